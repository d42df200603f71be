// sinkGathers: row-wise work on embedding lookups done once per table row instead of once per
// lookup, when the table has fewer rows than the batch looks up.
#include <map>
#include <optional>
#include <vector>

#include "compiler/ops/OpTable.h"
#include "compiler/passes/Algebra.h"
#include "compiler/passes/Autodiff.h"

namespace recc {

namespace {

/// How a value of the rebuilt graph came from a table: gather(table, ids), or that summed over
/// axis `sumAxis` of ids (an ids<v>[L] field: sum(e(genres), axis = 1)).
struct Lookup {
  ValueId table, ids;
  int64_t sumAxis = -1;
};

// What one looked-up row costs, per column, in multiply-adds: its read in the forward pass and
// the scatter of its gradient are memory traffic, several times dearer than a product's
// multiply-add. Measured on DeepFM/FNN/Wide&Deep/ALS-MLP/DIN: see the commit that set it.
constexpr int64_t kLookupCost = 8;

bool rowWise(OpKind k) {
  // Elementwise f32 ops that treat every element alike; dropout's mask depends on the element's
  // position, pad_mask reads ids, bce_with_logits reads labels.
  return opInfo(k).cls == OpClass::Elementwise && k != OpKind::Dropout && k != OpKind::PadMask &&
         k != OpKind::BceWithLogits;
}

}  // namespace

int64_t gatherRows(const Graph& g, ValueId table) {
  const Node& t = g.at(table);
  if (t.shape.size() != 2 || !t.shape[0].isStatic()) return -1;
  // A table updated row-sparsely (embedding(..., sparse = true)) keeps gradients of the rows the
  // batch touched; a product over the whole table would make them dense.
  if (t.op == OpKind::Param && g.params[static_cast<size_t>(t.attrs.i("index"))].sparseUpdate) return -1;
  return t.shape[0].n;
}

int64_t lookupCost(const Graph& g, ValueId v, int64_t batch) {
  const Node& n = g.at(v);
  const Node* gather = &n;
  if (n.op == OpKind::Sum && n.attrs.i("keepdims") == 0) gather = &g.at(n.inputs[0]);
  const int64_t plain = numElements(n.shape, batch);
  if (gather->op != OpKind::Gather || gather->attrs.f("max_norm") != 0) return plain;
  if (gather != &n && n.attrs.i("axis") >= static_cast<int64_t>(g.at(gather->inputs[1]).shape.size())) return plain;
  const int64_t rows = gatherRows(g, gather->inputs[0]);
  if (rows < 0) return plain;
  // Per output column: the table's rows times their width, plus one read per lookup.
  const int64_t moved = rows * gather->shape.back().n + kLookupCost * numElements(g.at(gather->inputs[1]).shape, batch);
  return moved < plain ? moved : plain;
}

int sinkGathers(Graph& forward, int64_t batch) {
  Graph g = forward;
  g.nodes.clear();
  GraphBuilder b(g);
  std::vector<ValueId> id(forward.nodes.size(), -1);
  std::map<ValueId, Lookup> lookups;  // rebuilt value -> where it was looked up
  int rewritten = 0;
  auto lookupOf = [&](ValueId v) -> std::optional<Lookup> {
    auto it = lookups.find(v);
    return it == lookups.end() ? std::nullopt : std::optional<Lookup>(it->second);
  };
  for (size_t i = 0; i < forward.nodes.size(); ++i) {
    Node n = forward.nodes[i];
    for (ValueId& in : n.inputs) in = id[static_cast<size_t>(in)];
    const Loc loc = n.loc;
    ValueId out = -1;
    if (n.op == OpKind::MatMul && n.attrs.i("ta") == 0 && g.at(n.inputs[1]).shape.size() == 2) {
      // matmul(gather(T, ids), W) = gather(T W, ids); summed over an ids axis, the sum follows.
      if (auto l = lookupOf(n.inputs[0])) {
        const int64_t rows = gatherRows(g, l->table);
        const int64_t width = g.at(l->table).shape[1].n;
        const int64_t lookedUp = numElements(g.at(l->ids).shape, batch);
        if (rows >= 0 && rows * width + kLookupCost * lookedUp < numElements(g.at(n.inputs[0]).shape, batch)) {
          ValueId tw = b.add(OpKind::MatMul, {l->table, n.inputs[1]}, n.attrs, loc);
          out = b.add(OpKind::Gather, {tw, l->ids}, Attrs().set("max_norm", 0.0), loc);
          if (l->sumAxis >= 0)
            out = b.add(OpKind::Sum, {out}, Attrs().set("axis", l->sumAxis).set("keepdims", int64_t{0}), loc);
          else
            lookups[out] = {tw, l->ids};
        }
      }
    } else if (rowWise(n.op)) {
      // f(gather(T, ids), c) = gather(f(T, c), ids) when c is the same for every row (rank <= 1).
      int at = -1;
      bool perRow = true;
      for (size_t k = 0; k < n.inputs.size(); ++k) {
        auto l = lookupOf(n.inputs[k]);
        if (l && l->sumAxis < 0 && at < 0) at = static_cast<int>(k);
        else if (g.at(n.inputs[k]).shape.size() > 1) perRow = false;
      }
      if (at >= 0 && perRow) {
        const Lookup l = *lookupOf(n.inputs[static_cast<size_t>(at)]);
        const int64_t rows = gatherRows(g, l.table);
        if (rows >= 0 && rows < numElements(g.at(l.ids).shape, batch)) {
          std::vector<ValueId> ins = n.inputs;
          ins[static_cast<size_t>(at)] = l.table;
          ValueId ft = b.add(n.op, ins, n.attrs, loc);
          if (g.at(ft).shape.size() == 2) {
            out = b.add(OpKind::Gather, {ft, l.ids}, Attrs().set("max_norm", 0.0), loc);
            lookups[out] = {ft, l.ids};
          }
        }
      }
    }
    if (out >= 0) {
      g.at(out).name = n.name;
      id[i] = out;
      ++rewritten;
      continue;
    }
    const bool isLookup = n.op == OpKind::Gather && n.attrs.f("max_norm") == 0;
    const bool isSummedLookup = n.op == OpKind::Sum && n.attrs.i("keepdims") == 0 && lookupOf(n.inputs[0]) &&
                                lookupOf(n.inputs[0])->sumAxis < 0 &&
                                n.attrs.i("axis") < static_cast<int64_t>(g.at(lookupOf(n.inputs[0])->ids).shape.size());
    g.nodes.push_back(std::move(n));
    id[i] = static_cast<ValueId>(g.nodes.size() - 1);
    const Node& copied = g.nodes.back();
    if (isLookup) lookups[id[i]] = {copied.inputs[0], copied.inputs[1]};
    if (isSummedLookup) {
      Lookup l = *lookupOf(copied.inputs[0]);
      l.sumAxis = copied.attrs.i("axis");
      lookups[id[i]] = l;
    }
  }
  if (!rewritten) return 0;
  renumberValues(g, id);  // lookups no longer read stay: the final dead-code pass drops them
  forward = std::move(g);
  return rewritten;
}

}  // namespace recc
