// The graph IR: SSA values (one per node) with a dtype and a symbolic shape.
//
// A Graph is a list of nodes in topological order; a ValueId is a node's index. Shapes are
// lists of Dims; a Dim is either static or a symbol: "B" (the run-time batch size) or a
// vocabulary size like "|movie|", bound to a number by bindVocabularies() once the
// training data has been read. Everything but B is static by the time code is generated.
#pragma once
#include <cstdint>
#include <map>
#include <string>
#include <variant>
#include <vector>

#include "compiler/ir/Diag.h"
#include "compiler/ops/OpTable.h"

namespace recc {

struct Dim {
  int64_t n = 0;    // value when static (sym empty)
  std::string sym;  // "B" or "|vocab|"; empty = static
  Dim() = default;
  Dim(int64_t v) : n(v) {}  // NOLINT: implicit on purpose, Shape{B, 32}
  static Dim sym_(std::string s) { Dim d; d.sym = std::move(s); return d; }
  bool isStatic() const { return sym.empty(); }
  bool isBatch() const { return sym == "B"; }
  bool operator==(const Dim& o) const { return sym == o.sym && (!sym.empty() || n == o.n); }
  bool operator!=(const Dim& o) const { return !(*this == o); }
  std::string str() const { return sym.empty() ? std::to_string(n) : sym; }
};
inline const Dim kB = Dim::sym_("B");

using Shape = std::vector<Dim>;
std::string shapeStr(const Shape& s);  // "[B,4,32]"
/// Element count with B (and unbound symbols) taken as `batch`; static dims multiply. Throws
/// DiagError (no location) if the count overflows int64.
int64_t numElements(const Shape& s, int64_t batch);

/// The most elements one tensor may have, counting static dims only (B and vocabulary sizes
/// are bound later and checked against memory by the driver): 2^40, i.e. 4 TiB of f32, beyond
/// any tensor one machine trains with. Keeping every static count this far inside int64 means
/// shape rules and byte sizes can multiply such counts without wrapping around.
inline constexpr int64_t kMaxTensorElements = int64_t{1} << 40;

/// The product of the static dims of `s` (symbols skipped) in `out`; false when it overflows
/// int64 or exceeds kMaxTensorElements. GraphBuilder::add refuses such shapes with
/// "<op>: dimension overflows: ...".
bool staticElementsWithinLimit(const Shape& s, int64_t& out);
bool hasBatch(const Shape& s);

enum class DType : uint8_t { F32, I32 };
const char* dtypeName(DType t);

using AttrValue = std::variant<int64_t, double, std::string, Shape>;
/// Named attributes; sorted so that the printer is stable.
struct Attrs {
  std::map<std::string, AttrValue> m;
  Attrs& set(const std::string& k, AttrValue v) { m[k] = std::move(v); return *this; }
  bool has(const std::string& k) const { return m.count(k) != 0; }
  int64_t i(const std::string& k, int64_t def = 0) const;
  double f(const std::string& k, double def = 0) const;
  const std::string& s(const std::string& k) const;
  const Shape& shape(const std::string& k) const;
};

using ValueId = int32_t;

struct Node {
  OpKind op;
  std::vector<ValueId> inputs;
  Attrs attrs;
  DType dtype = DType::F32;
  Shape shape;
  Loc loc;
  std::string name;  // the let-binding / parameter / input name this value carries, if any
};

enum class InputKind { Id, Ids, Dense, Label };

/// `input user_id : id<user>` binds CSV column `column` (default: the input's name).
struct InputDecl {
  std::string name, column, vocab;  // vocab: for Id/Ids
  InputKind kind = InputKind::Dense;
  int64_t length = 0;               // Ids: padded length L (shape [B, L]); Dense: 0 = [B]
  Loc loc;
};

/// Parameter initialisation: normal(0, scale), uniform(-scale, scale), zeros, ones.
/// Every vocabulary's first ids are reserved (runtime/data/Dataset.h): 0 = <pad>, the padding
/// of ids<v>[L] cells, and 1 = <oov>, an id not seen in training. Data tokens count from here.
inline constexpr int64_t kReservedIds = 2;

struct ParamDecl {
  std::string name;  // hierarchical: "deep.fc0.w", "emb.movie"
  Shape shape;
  std::string init = "zeros";
  double scale = 0;
  bool embedding = false;  // rows are looked up by id (sparse gradients); kReservedIds rows first
  Loc loc;
  /// `embedding(..., sparse = true)`: the optimizer step touches only the rows a batch used
  /// (SparseUpdate; Adam/AdamW lazy, like PyTorch's SparseAdam), so a step costs the same for
  /// any table size. Off by default: lazy Adam is not the dense Adam other frameworks run, and
  /// on small tables it can cost accuracy (AFM: test AUC 0.758 lazy vs 0.767 dense).
  bool sparseUpdate = false;
  /// A sparseUpdate table read only by lookups (assignRowRecords) is stored as row records:
  /// row r's weights, Adam m and Adam v side by side, [w | m | v], 3 * cols floats (rowStride).
  /// A step's lookup of a row and its update then share one page walk and a few neighbouring
  /// cache lines instead of three pages: on a table of millions of rows, each page is a TLB
  /// miss. Every reader steps rows by rowStride; the optimizer's m and v start at w + cols
  /// and w + 2 * cols with the same stride.
  bool rowRecords = false;
  /// Computed from the other parameters, not learned (passes/Hoisting.h): never initialised,
  /// updated or saved; whoever runs the graph fills it once per parameter version.
  bool derived = false;
};

struct NamedValue {
  std::string name;
  ValueId value;
  Loc loc;
};

struct LossTerm {
  ValueId value;  // scalar []
  double weight = 1;
  Loc loc;
};

struct Graph {
  std::string model;
  uint64_t sourceHash = 0;  // FNV-1a over every source file read (model file and imports), in order
  std::vector<Node> nodes;
  std::vector<InputDecl> inputs;
  std::vector<ParamDecl> params;
  std::vector<NamedValue> named;    // let-bound values in source order (recc check prints them)
  std::vector<NamedValue> outputs;  // `output prob = ...`
  std::vector<LossTerm> losses;
  std::vector<std::pair<std::string, std::string>> hyper;  // hyperparameters, final values
  // `train { optimizer = "adamw", lr = 0.001, batch = 1024, epochs = 3, ... }` defaults;
  // values are printed literals (strings unquoted); the CLI flags override them.
  std::vector<std::pair<std::string, std::string>> train;

  // Filled by autodiff (passes/Autodiff.h) in a training-step graph:
  ValueId loss = -1;            // weighted sum of losses
  std::vector<ValueId> grads;   // per param; -1 if the loss does not depend on it

  const Node& at(ValueId v) const { return nodes[static_cast<size_t>(v)]; }
  Node& at(ValueId v) { return nodes[static_cast<size_t>(v)]; }
  int64_t paramCount() const;   // learned (not derived) elements; requires bound vocabularies
  int inputIndex(const std::string& name) const;  // -1 if absent
};

/// Floats from one row of parameter p's buffer to the next (ParamDecl::rowRecords).
inline int64_t rowStride(const ParamDecl& p) { return (p.rowRecords ? 3 : 1) * p.shape.back().n; }

/// Sets ParamDecl::rowRecords on the row-sparse tables whose every reader is a lookup (Gather of
/// the table), the only op that steps through a table by rowStride. Run once on a model graph:
/// the graphs derived from it (training step, inference) copy the decision.
void assignRowRecords(Graph& g);

/// The values of g.outputs, in order (the fetch list of an inference graph).
std::vector<ValueId> outputValues(const Graph& g);

/// Replace every |vocab| symbol by its size (throws DiagError naming a missing vocabulary).
void bindVocabularies(Graph& g, const std::map<std::string, int64_t>& sizes);

/// Appends nodes to a graph, running the op's shape rule; a failing rule, or a result with
/// more than kMaxTensorElements static elements, throws DiagError(loc, "<op>: <reason>"). Used
/// by the front end and by autodiff alike.
class GraphBuilder {
 public:
  explicit GraphBuilder(Graph& g) : g_(g) {}
  ValueId add(OpKind op, std::vector<ValueId> inputs, Attrs attrs = {}, Loc loc = {},
              std::string name = {});
  // Helpers for common nodes.
  ValueId constant(double v, Shape shape, Loc loc = {});
  Graph& graph() { return g_; }

 private:
  Graph& g_;
};

}  // namespace recc
