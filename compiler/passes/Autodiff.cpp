// Reverse-mode autodiff over the graph IR, and the training-step / inference graphs built on it.
//
// Algorithm (differentiate): build loss = sum_i w_i * loss_i; mark the values that depend on a
// parameter (only they need adjoints); sweep the forward nodes in reverse topological order
// from the loss, asking each node's gradient rule (ops/Gradients.cpp) for the adjoints of its
// operands and summing (Add) contributions that reach one value along several paths.
#include "compiler/passes/Autodiff.h"

#include <algorithm>
#include <optional>

#include "compiler/ir/Verifier.h"
#include "compiler/passes/Algebra.h"
#include "compiler/ops/Gradients.h"

namespace recc {

namespace {

/// loss = sum_i weight_i * losses_i (weights of 1 cost no node).
ValueId buildTotalLoss(Graph& g, GraphBuilder& b) {
  ValueId total = -1;
  for (const LossTerm& t : g.losses) {
    ValueId term = t.value;
    if (t.weight != 1) term = b.add(OpKind::Mul, {term, b.constant(t.weight, {}, t.loc)}, {}, t.loc);
    total = total < 0 ? term : b.add(OpKind::Add, {total, term}, {}, t.loc);
  }
  return total;
}

/// needs[v]: v is an f32 value that depends on some parameter (so its adjoint matters).
std::vector<bool> dependsOnParams(const Graph& g, size_t count) {
  std::vector<bool> needs(count, false);
  for (size_t i = 0; i < count; ++i) {
    const Node& n = g.nodes[i];
    if (n.dtype != DType::F32) continue;
    if (n.op == OpKind::Param) needs[i] = true;
    for (ValueId in : n.inputs) needs[i] = needs[i] || needs[static_cast<size_t>(in)];
  }
  return needs;
}

/// If `grad` is a sum (a tree of Adds) of scatter_adds, their (ids, rows) operand pairs in
/// order; else nothing. The Adds and scatter_adds then only feed the parameter's update: DCE
/// drops them once a SparseUpdate reads the pairs directly.
std::vector<ValueId> sparseGradient(const Graph& g, ValueId grad) {
  std::vector<ValueId> pairs, stack = {grad};
  while (!stack.empty()) {
    const Node& n = g.at(stack.back());
    stack.pop_back();
    if (n.op == OpKind::ScatterAdd) {
      pairs.push_back(n.inputs[0]);
      pairs.push_back(n.inputs[1]);
    } else if (n.op == OpKind::Add && g.at(n.inputs[0]).shape == n.shape && g.at(n.inputs[1]).shape == n.shape) {
      stack.push_back(n.inputs[1]);
      stack.push_back(n.inputs[0]);
    } else {
      return {};
    }
  }
  return pairs;
}

/// If v is a concat (along a static axis): its operands that are not zero constants, with their
/// positions along the axis. The adjoint of a slice is one: the slice's gradient between zeros.
struct Pad {
  int64_t axis = -1;
  std::vector<std::pair<int64_t, ValueId>> pieces;  // (first index along the axis, operand)
};
std::optional<Pad> padOf(const Graph& g, ValueId v) {
  const Node& n = g.at(v);
  if (n.op != OpKind::Concat) return std::nullopt;
  Pad pad;
  pad.axis = n.attrs.i("axis");
  int64_t at = 0;
  for (ValueId in : n.inputs) {
    const Node& x = g.at(in);
    if (!x.shape[static_cast<size_t>(pad.axis)].isStatic()) return std::nullopt;
    if (x.op != OpKind::Const || x.attrs.f("value") != 0) pad.pieces.push_back({at, in});
    at += x.shape[static_cast<size_t>(pad.axis)].n;
  }
  return pad;
}

/// The sum of two zero-padded concats along one axis whose non-zero operands do not overlap:
/// one concat of those operands, zeros filling the gaps; -1 if they are not such concats.
ValueId mergePads(GraphBuilder& b, ValueId a, ValueId c, const Loc& loc) {
  const Graph& g = b.graph();
  const std::optional<Pad> pa = padOf(g, a), pc = padOf(g, c);
  if (!pa || !pc || pa->axis != pc->axis) return -1;
  const auto ax = static_cast<size_t>(pa->axis);
  std::vector<std::pair<int64_t, ValueId>> pieces = pa->pieces;
  pieces.insert(pieces.end(), pc->pieces.begin(), pc->pieces.end());
  std::sort(pieces.begin(), pieces.end());
  for (size_t i = 1; i < pieces.size(); ++i)  // overlapping operands: not a pad's merge
    if (pieces[i].first < pieces[i - 1].first + g.at(pieces[i - 1].second).shape[ax].n) return -1;
  const Shape shape = g.at(a).shape;
  std::vector<ValueId> parts;
  auto zeros = [&](int64_t len) {
    Shape z = shape;
    z[ax] = Dim(len);
    parts.push_back(b.constant(0.0, z, loc));
  };
  int64_t at = 0;
  for (auto [begin, v] : pieces) {
    if (begin > at) zeros(begin - at);
    parts.push_back(v);
    at = begin + b.graph().at(v).shape[ax].n;
  }
  if (at < shape[ax].n) zeros(shape[ax].n - at);
  if (parts.size() == 1) return parts[0];
  return b.add(OpKind::Concat, parts, Attrs().set("axis", pa->axis), loc);
}

/// a + c, two adjoints of one value. The gradients of disjoint slices (a GRU's gates of one
/// product, a scan's steps of one sequence) are zero-padded concats: they are merged into one
/// concat, kept as the second operand of the sum (a + c with a = x + pad becomes x + (pad + c),
/// exactly: each element of the merged pads has at most one non-zero term). Added up as pads,
/// a loop over the sum would read every padded operand for every element (a scan's 20 steps:
/// 20 loads and selects each).
ValueId accumulate(GraphBuilder& b, ValueId a, ValueId c, Loc loc) {
  if (ValueId m = mergePads(b, a, c, loc); m >= 0) return m;
  if (const Node& n = b.graph().at(a); n.op == OpKind::Add && padOf(b.graph(), c)) {
    const ValueId x = n.inputs[0], pad = n.inputs[1];  // copied: mergePads adds nodes
    if (ValueId m = mergePads(b, pad, c, loc); m >= 0) return b.add(OpKind::Add, {x, m}, {}, loc);
  }
  if (padOf(b.graph(), a) && !padOf(b.graph(), c)) std::swap(a, c);  // the pad second
  return b.add(OpKind::Add, {a, c}, {}, loc);
}

}  // namespace

void differentiate(Graph& g) {
  if (g.losses.empty())
    throw DiagError({}, "model '" + g.model + "' has no loss: nothing to differentiate (add a `loss` line)");
  GraphBuilder b(g);
  g.loss = buildTotalLoss(g, b);
  const size_t forwardCount = g.nodes.size();
  const std::vector<bool> needs = dependsOnParams(g, forwardCount);

  std::vector<ValueId> adj(forwardCount, -1);
  adj[static_cast<size_t>(g.loss)] = b.constant(1.0, {}, g.at(g.loss).loc);
  for (size_t i = static_cast<size_t>(g.loss) + 1; i-- > 0;) {
    if (adj[i] < 0 || !needs[i]) continue;
    const auto v = static_cast<ValueId>(i);
    std::vector<ValueId> ins = g.at(v).inputs;  // copy: gradient() appends nodes
    std::vector<ValueId> gins = gradient(b, v, adj[i]);
    for (size_t k = 0; k < gins.size() && k < ins.size(); ++k) {
      auto in = static_cast<size_t>(ins[k]);
      if (gins[k] < 0 || !needs[in]) continue;
      // A rule that returns the wrong shape is a compiler bug; report it at the user's line
      // rather than as a confusing failure in a later Add or Update.
      if (g.at(gins[k]).shape != g.nodes[in].shape)
        throw DiagError(g.at(v).loc, std::string(opName(g.at(v).op)) + ": gradient rule produced " +
                                         shapeStr(g.at(gins[k]).shape) + " for operand " +
                                         std::to_string(k + 1) + " of shape " + shapeStr(g.nodes[in].shape));
      adj[in] = adj[in] < 0 ? gins[k] : accumulate(b, adj[in], gins[k], g.at(v).loc);
    }
  }

  // A parameter may be read by several Param nodes: their adjoints add up.
  g.grads.assign(g.params.size(), -1);
  for (size_t i = 0; i < forwardCount; ++i) {
    if (g.nodes[i].op != OpKind::Param || adj[i] < 0) continue;
    auto p = static_cast<size_t>(g.nodes[i].attrs.i("index"));
    Loc loc = g.nodes[i].loc;  // a copy: b.add may reallocate the node vector
    ValueId& gp = g.grads[p];
    gp = gp < 0 ? adj[i] : b.add(OpKind::Add, {gp, adj[i]}, {}, loc);
  }
}

Graph buildTrainStep(const Graph& forward, int64_t batch) {
  Graph g = forward;
  factorConcatMatmuls(g, batch);
  sinkGathers(g, batch);
  differentiate(g);
  // One Param node per parameter to hang the Update on (the first that reads it).
  std::vector<ValueId> paramNode(g.params.size(), -1);
  for (size_t i = 0; i < g.nodes.size(); ++i)
    if (g.nodes[i].op == OpKind::Param) {
      auto p = static_cast<size_t>(g.nodes[i].attrs.i("index"));
      if (paramNode[p] < 0) paramNode[p] = static_cast<ValueId>(i);
    }
  // Updates come after every gradient node, so no read of a parameter sees it half-updated.
  GraphBuilder b(g);
  for (size_t p = 0; p < g.params.size(); ++p) {
    if (g.grads[p] < 0) continue;
    const Attrs index = Attrs().set("index", static_cast<int64_t>(p));
    std::vector<ValueId> rows;
    if (g.params[p].sparseUpdate) rows = sparseGradient(g, g.grads[p]);
    if (rows.empty()) {
      b.add(OpKind::Update, {paramNode[p], g.grads[p]}, index, g.params[p].loc);
    } else {
      rows.insert(rows.begin(), paramNode[p]);
      b.add(OpKind::SparseUpdate, rows, index, g.params[p].loc);
    }
  }
  lowerThinProducts(g);
  std::vector<ValueId> roots = {g.loss};
  eliminateDeadCode(g, roots);
  verify(g);
  return g;
}

Graph toInferenceMode(const Graph& forward) {
  Graph g = forward;
  rebuildNodes(g, [](GraphBuilder& b, const Node& n) -> ValueId {
    if (n.op == OpKind::Dropout) return n.inputs[0];  // identity at inference
    if (n.op != OpKind::BatchMoments) return -1;
    // The running statistics in the moments' place: [running_mean; 1/sqrt(running_var + eps)].
    const Loc loc = n.loc;
    const Shape row{Dim(1), b.graph().at(n.inputs[1]).shape[0]};
    auto reshape = [&](ValueId x) { return b.add(OpKind::Reshape, {x}, Attrs().set("shape", row), loc); };
    ValueId eps = b.constant(n.attrs.f("eps", 1e-5), {}, loc);
    ValueId sd = b.add(OpKind::Sqrt, {b.add(OpKind::Add, {n.inputs[2], eps}, {}, loc)}, {}, loc);
    ValueId rstd = b.add(OpKind::Div, {b.constant(1, {}, loc), sd}, {}, loc);
    ValueId y = b.add(OpKind::Concat, {reshape(n.inputs[1]), reshape(rstd)}, Attrs().set("axis", int64_t{0}), loc);
    b.graph().at(y).name = n.name;
    return y;
  });
  return g;
}

double batchesServed(int64_t rows, int64_t batch) {
  return batch > 0 ? std::max(1.0, static_cast<double>(rows) / static_cast<double>(batch)) : 1.0;
}

Graph buildInference(const Graph& forward, int64_t batch, double reuse) {
  Graph g = toInferenceMode(forward);
  factorConcatMatmuls(g, batch, reuse);
  sinkGathers(g, batch, reuse);
  lowerThinProducts(g);
  // Losses read labels, which are not available at serving time. Inputs that are no longer
  // read (labels) stay declared in g.inputs: input indices stay stable and a data loader may
  // still read the column, the graph just ignores it.
  g.losses.clear();
  g.loss = -1;
  g.grads.clear();
  std::vector<ValueId> roots = outputValues(g);
  eliminateDeadCode(g, roots);
  verify(g);
  return g;
}

}  // namespace recc
