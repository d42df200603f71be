// sinkGathers: row-wise work on embedding lookups done once per table row instead of once per
// lookup, when the table has fewer rows than the batch looks up.
#include <algorithm>
#include <optional>
#include <vector>

#include "compiler/ops/OpTable.h"
#include "compiler/passes/Algebra.h"
#include "compiler/passes/Autodiff.h"

namespace recc {

namespace {

// What one looked-up row costs, per column, in multiply-adds: its read in the forward pass and
// the scatter of its gradient are memory traffic, several times dearer than a product's
// multiply-add. At 1, DeepFM's genre sum (6 lookups per row) was sunk in training and the step
// got 20% slower; at 8, DeepFM/FNN/Wide&Deep keep one first-layer GEMM in training, and
// ALS-MLP's user tower, DIN's history items and the small tables at inference are sunk.
constexpr int64_t kLookupCost = 8;

/// A value read from a table: gather(table, ids), or that summed over axis `sumAxis` of ids (an
/// ids<v>[L] field: sum(e(genres), axis = 1)).
struct Lookup {
  ValueId table, ids;
  int64_t sumAxis = -1;
  int64_t rows;  // of the table
};

/// v as a lookup sinkGathers may move: not renormalising (max_norm), from a static table that is
/// not updated row-sparsely.
std::optional<Lookup> lookupOf(const Graph& g, ValueId v) {
  const Node& n = g.at(v);
  const Node* gather = &n;
  int64_t sumAxis = -1;
  if (n.op == OpKind::Sum && n.attrs.i("keepdims") == 0) {
    gather = &g.at(n.inputs[0]);
    sumAxis = n.attrs.i("axis");
  }
  if (gather->op != OpKind::Gather || gather->attrs.f("max_norm") != 0) return std::nullopt;
  const ValueId table = gather->inputs[0], ids = gather->inputs[1];
  if (sumAxis >= static_cast<int64_t>(g.at(ids).shape.size())) return std::nullopt;  // a sum over the row
  const Node& t = g.at(table);
  if (t.shape.size() != 2 || !t.shape[0].isStatic()) return std::nullopt;
  // A table updated row-sparsely (embedding(..., sparse = true)) keeps gradients of the rows the
  // batch touched; a product over the whole table would make them dense.
  if (t.op == OpKind::Param && g.params[static_cast<size_t>(t.attrs.i("index"))].sparseUpdate) return std::nullopt;
  return Lookup{table, ids, sumAxis, t.shape[0].n};
}

/// Per output column of matmul(lookup, W): the products over the table's rows (shared by the
/// `reuse` batches they serve), plus the lookups.
int64_t sunkCost(const Graph& g, const Lookup& l, int64_t batch, double reuse) {
  const auto perBatch = static_cast<int64_t>(static_cast<double>(l.rows * g.at(l.table).shape[1].n) / reuse);
  return perBatch + kLookupCost * numElements(g.at(l.ids).shape, batch);
}

bool rowWise(OpKind k) {
  // Elementwise f32 ops that treat every element alike; dropout's mask depends on the element's
  // position, pad_mask reads ids, bce_with_logits reads labels.
  return opInfo(k).cls == OpClass::Elementwise && k != OpKind::Dropout && k != OpKind::PadMask &&
         k != OpKind::BceWithLogits;
}

}  // namespace

int64_t lookupCost(const Graph& g, ValueId v, int64_t batch, double reuse) {
  const int64_t plain = numElements(g.at(v).shape, batch);
  const std::optional<Lookup> l = lookupOf(g, v);
  return l ? std::min(plain, sunkCost(g, *l, batch, reuse)) : plain;
}

int sinkGathers(Graph& forward, int64_t batch, double reuse) {
  // Lookups no longer read stay: the final dead-code pass drops them.
  return rebuildNodes(forward, [batch, reuse](GraphBuilder& b, const Node& n) -> ValueId {
    const Graph& g = b.graph();
    const Loc loc = n.loc;
    ValueId out = -1;
    if (n.op == OpKind::MatMul && n.attrs.i("ta") == 0 && g.at(n.inputs[1]).shape.size() == 2) {
      // matmul(gather(T, ids), W) = gather(T W, ids); summed over an ids axis, the sum follows.
      const std::optional<Lookup> l = lookupOf(g, n.inputs[0]);
      if (l && sunkCost(g, *l, batch, reuse) < numElements(g.at(n.inputs[0]).shape, batch)) {
        ValueId tw = b.add(OpKind::MatMul, {l->table, n.inputs[1]}, n.attrs, loc);
        out = b.add(OpKind::Gather, {tw, l->ids}, Attrs().set("max_norm", 0.0), loc);
        if (l->sumAxis >= 0)
          out = b.add(OpKind::Sum, {out}, Attrs().set("axis", l->sumAxis).set("keepdims", int64_t{0}), loc);
      }
    } else if (rowWise(n.op)) {
      // f(gather(T, ids), c) = gather(f(T, c), ids) when c is the same for every row (rank <= 1).
      int at = -1;
      bool perRow = true;
      for (size_t k = 0; k < n.inputs.size(); ++k) {
        const std::optional<Lookup> l = lookupOf(g, n.inputs[k]);
        if (l && l->sumAxis < 0 && at < 0) at = static_cast<int>(k);
        else if (g.at(n.inputs[k]).shape.size() > 1) perRow = false;
      }
      if (at >= 0 && perRow) {
        const Lookup l = *lookupOf(g, n.inputs[static_cast<size_t>(at)]);
        if (static_cast<double>(l.rows) < static_cast<double>(numElements(g.at(l.ids).shape, batch)) * reuse) {
          std::vector<ValueId> ins = n.inputs;
          ins[static_cast<size_t>(at)] = l.table;
          ValueId ft = b.add(n.op, ins, n.attrs, loc);
          if (g.at(ft).shape.size() == 2) out = b.add(OpKind::Gather, {ft, l.ids}, Attrs().set("max_norm", 0.0), loc);
        }
      }
    }
    if (out >= 0) b.graph().at(out).name = n.name;
    return out;
  });
}

}  // namespace recc
