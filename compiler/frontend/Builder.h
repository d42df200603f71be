// The graph builder: evaluates the model body (inlining defs) and appends graph nodes.
#pragma once
#include <map>
#include <set>
#include <string>
#include <vector>

#include "compiler/frontend/Builtins.h"
#include "compiler/frontend/Program.h"
#include "compiler/frontend/Value.h"

namespace recc {

class Builder {
 public:
  Builder(Graph& g, const Program& prog) : g_(g), gb_(g), prog_(prog) {}

  /// Builds the program's model with the given `--set` overrides.
  void build(const std::vector<std::pair<std::string, std::string>>& overrides);

  // ---- helpers for the builtins ----
  Graph& graph() { return g_; }
  GraphBuilder& graphBuilder() { return gb_; }
  const Shape& shape(const Value& t) const { return g_.at(t.t).shape; }
  ValueId add(OpKind op, std::vector<ValueId> in, Attrs a, const Loc& loc) {
    return gb_.add(op, std::move(in), std::move(a), loc);
  }
  ValueId constant(double v, const Loc& loc) { return gb_.constant(v, {}, loc); }
  ValueId constantOf(double v, Shape s, const Loc& loc) { return gb_.constant(v, std::move(s), loc); }
  /// The table of an embedding layer for a vocabulary, created on first use: [|vocab|, dim].
  ValueId embeddingTable(EmbeddingLayer& layer, const std::string& vocab, const Loc& loc);
  /// Seeds for dropout calls that give none: 0, 1, 2, ... in build order.
  int64_t nextSeed() { return seeds_++; }
  ValueId reshape(ValueId x, Shape s, const Loc& loc) {
    return add(OpKind::Reshape, {x}, Attrs().set("shape", std::move(s)), loc);
  }
  /// A new parameter node named `name` (unique over the model).
  ValueId param(const std::string& name, Shape shape, const std::string& init, double scale,
                bool embedding, const Loc& loc);
  /// Name of the parameter scope a layer-creating call gets: the enclosing scope itself when the
  /// call is the whole right side of a model-level binding, else "<scope>.<kind><k>".
  std::string layerScope(const std::string& kind, bool ownScope);

  /// Argument coercions with errors at the argument: "relu: argument 'x' must be a tensor, got a list".
  Value tensorArg(const CallSite& c, size_t i, bool floatOnly = true);
  int64_t intArg(const CallSite& c, size_t i);
  double floatArg(const CallSite& c, size_t i);
  bool boolArg(const CallSite& c, size_t i);
  const std::vector<Value>& listArg(const CallSite& c, size_t i);
  /// Normalises a possibly negative axis against `rank` (+1 when inserting a dimension).
  int64_t axisArg(const CallSite& c, size_t i, size_t rank);
  /// Rejects categorical ids in arithmetic with a message that names their vocabulary.
  void requireFloat(const Value& v, const Loc& loc, const std::string& what);

  /// Elementwise binary op with numbers folded or turned into scalar constants.
  Value arith(const std::string& op, const Value& a, const Value& b, const Loc& loc);

 private:
  using Env = std::map<std::string, Value>;
  struct Frame {
    bool modelLevel = false;
    bool returned = false;
    Value result;
  };

  void modelStmt(const ast::Stmt& s, Env& env, Frame& fr);
  void exec(const std::vector<ast::StmtPtr>& body, Env& env, Frame& fr);
  void assign(const ast::Stmt& s, Env& env, Frame& fr);
  Value eval(const ast::Expr& e, Env& env);
  Value call(const ast::Expr& e, Env& env);
  /// A call's evaluated argument: keyword (empty = positional), value, location.
  struct CallArg {
    std::string name;
    Value v;
    Loc loc;
  };
  Value invoke(const Value& callee, const std::vector<CallArg>& args, const Loc& loc, bool own);
  Value callDef(const ast::Def& d, const std::vector<CallArg>& args, const Loc& loc, bool own);
  Value callLayer(const Value& layer, const std::vector<CallArg>& args, const Loc& loc);
  Value scan(const std::vector<CallArg>& args, const Loc& loc, bool own);
  Value index(const ast::Expr& e, Env& env);
  std::string uniqueRoot(const std::string& name);
  void input(const ast::Stmt& s, Env& env);
  void hyperparameters(const ast::Model& m, Env& env,
                       const std::vector<std::pair<std::string, std::string>>& overrides);

  Graph& g_;
  GraphBuilder gb_;
  const Program& prog_;
  std::vector<std::string> scope_;                          // current parameter scope path
  std::map<std::string, std::map<std::string, int>> counters_;  // per scope path, per kind
  std::set<std::string> roots_;                             // model-level scope names taken
  std::map<std::string, ValueId> paramNodes_;  // parameter name -> its Param node
  bool reuseParams_ = false;
  int64_t seeds_ = 0;  // inside a scan step after the first: param() returns existing ones
  std::vector<const ast::Def*> callStack_;
  bool ownScopeNext_ = false;  // the next call evaluated is a model-level binding's whole right side
};

}  // namespace recc
