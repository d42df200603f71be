// shouldFuse() and planFusion(): which values stay in registers, and when each buffer is last read.
#include "compiler/codegen/Fusion.h"

#include <algorithm>

#include "compiler/codegen/Lowering.h"

namespace recc {

FusionDecision shouldFuse(const Graph& g, ValueId producer, ValueId consumer, int producerUses) {
  const Node& p = g.at(producer);
  const Node& c = g.at(consumer);
  if (loweringOf(c.op) != Lowering::FusedLoop)
    return FusionDecision::forbid(std::string("consumer ") + opName(c.op) +
                                  " is a kernel call that reads its operands from memory");
  if (c.op == OpKind::Reshape)
    return FusionDecision::forbid("reshape aliases its operand's buffer");
  // A constant or the batch size costs nothing to recompute in every loop that reads it.
  if (p.op == OpKind::Const || p.op == OpKind::BatchSize) return FusionDecision::allow();
  const OpClass pc = opInfo(p.op).cls;
  // Index remaps (broadcast, transpose, one-hot, slice) cost one load or compare per element:
  // they fuse like elementwise ops (e.g. the [B,T,V] one-hot of the cross-entropy gradient is
  // never stored, and the gates of a GRU read their slices of one matmul in place). A concat
  // reads one of its operands per element (selects over clamped reads of each). A lookup
  // without renormalisation reads its id, then the table row: the rows sinkGathers leaves
  // ([B,256] per field for DeepFM's first layer) are added up without being copied out first.
  const bool remap = p.op == OpKind::BroadcastTo || p.op == OpKind::Transpose || p.op == OpKind::OneHot ||
                     p.op == OpKind::Slice || p.op == OpKind::Concat ||
                     (p.op == OpKind::Gather && p.attrs.f("max_norm") == 0);
  if (pc != OpClass::Elementwise && !remap)
    return FusionDecision::forbid(std::string("producer ") + opName(p.op) + " is not elementwise");
  // Along the last axis a consumer's loop is cut into one segment per operand, read directly;
  // along an outer axis every element selects among clamped reads of all the operands. Past a
  // few, the concat is cheaper copied out once (a scan's 20 steps stacked along time).
  constexpr size_t kMaxSelectedOperands = 4;
  if (p.op == OpKind::Concat && static_cast<size_t>(p.attrs.i("axis")) + 1 != p.shape.size() &&
      p.inputs.size() > kMaxSelectedOperands)
    return FusionDecision::forbid("producer concat along an outer axis has " + std::to_string(p.inputs.size()) +
                                  " operands; fused, every element would read all of them");
  if (producerUses != 1)
    return FusionDecision::forbid("producer has " + std::to_string(producerUses) +
                                  " uses; fusing would compute it once per use");
  // A consumer loop that broadcasts the producer would read each of its elements many times.
  const OpClass cc = opInfo(c.op).cls;
  if ((cc == OpClass::Elementwise || c.op == OpKind::BroadcastTo) && p.shape != c.shape)
    return FusionDecision::forbid("producer " + shapeStr(p.shape) + " is broadcast to " +
                                  shapeStr(c.shape) + "; fusing would recompute it");
  return FusionDecision::allow();
}

ValueId repeatedGradientSource(const Graph& g, ValueId scatter) {
  const Node& s = g.at(scatter);
  if (s.op != OpKind::ScatterAdd) return -1;
  const Node& repeated = g.at(s.inputs[1]);
  const Shape& ids = g.at(s.inputs[0]).shape;
  if (repeated.op != OpKind::BroadcastTo || ids.empty() || !ids.back().isStatic()) return -1;
  Shape source(ids.begin(), ids.end() - 1);
  source.push_back(Dim(1));
  source.push_back(repeated.shape.back());
  return g.at(repeated.inputs[0]).shape == source ? repeated.inputs[0] : -1;
}

bool isLoopNode(const Graph& g, const FusionPlan& f, size_t i) {
  const OpKind op = g.nodes[i].op;
  return f.emitted[i] && f.materialized[i] && loweringOf(op) == Lowering::FusedLoop && op != OpKind::Reshape;
}

namespace {

/// Writes memory besides its result: parameter updates, BatchMoments (its running statistics)
/// and a renormalising Gather (the table rows it reads).
bool hasSideEffect(const Node& n) {
  return n.op == OpKind::Update || n.op == OpKind::SparseUpdate || n.op == OpKind::BatchMoments ||
         (n.op == OpKind::Gather && n.attrs.f("max_norm") > 0);
}

/// The iteration space of a loop that may share a loop with its siblings: an elementwise
/// value's shape, or a sum_to's operand's; nullptr for other loops.
const Shape* memberSpace(const Graph& g, const Node& n) {
  if (n.op == OpKind::SumTo) return &g.at(n.inputs[0]).shape;
  if (opInfo(n.op).cls == OpClass::Elementwise && n.op != OpKind::Dropout) return &n.shape;
  return nullptr;
}

/// The dimensions of `space` a member's loop may be split along (each part writes its own
/// results): every one for an elementwise value, the kept ones for a sum_to (as Emitter's
/// splitOf).
std::vector<bool> splittable(const Node& n, const Shape& space) {
  std::vector<bool> ok(space.size(), true);
  if (n.op != OpKind::SumTo) return ok;
  const size_t lead = space.size() - n.shape.size();
  for (size_t d = 0; d < space.size(); ++d) {
    if (d < lead) { ok[d] = false; continue; }
    const Dim& o = n.shape[d - lead];
    ok[d] = !(o.isStatic() && o.n == 1 && !(space[d].isStatic() && space[d].n == 1));
  }
  return ok;
}

/// The buffers v's loop reads, each with whether it is read at the loop's own index (reached
/// through elementwise ops of the space's shape only, so no broadcast or remap). Returns false
/// if the loop reads through a slice, concat, transpose, one-hot or lookup: alone, such a loop
/// gets an inner loop cut per concat operand and merged dimensions that a group's loop lacks.
bool loopLeaves(const Graph& g, const FusionPlan& f, ValueId v, const Shape& space, bool sameIndex,
                std::vector<std::pair<ValueId, bool>>& out) {
  const Node& n = g.at(v);
  for (ValueId in : n.inputs) {
    const Node& x = g.at(in);
    const bool same = sameIndex && (opInfo(n.op).cls == OpClass::Elementwise || n.op == OpKind::SumTo) &&
                      x.shape == space;
    if (f.materialized[static_cast<size_t>(in)]) {
      out.push_back({in, same});
      continue;
    }
    if (x.op == OpKind::Slice || x.op == OpKind::Concat || x.op == OpKind::Transpose || x.op == OpKind::OneHot ||
        x.op == OpKind::Gather)
      return false;
    if (x.op != OpKind::Const && x.op != OpKind::BatchSize && !loopLeaves(g, f, in, space, same, out)) return false;
  }
  return true;
}

/// Fills f.loopAt. In schedule order, a sum_to or elementwise loop joins an open group over
/// the same space when it reads a buffer of that shape the group reads, or a member at its own
/// index, and everything else it reads exists before the group's first member (where the group
/// runs): inputs, parameters, values scheduled earlier. A side effect (an update of the
/// parameters) closes the open groups.
void groupSiblingLoops(const Graph& g, FusionPlan& f) {
  // Past these, the loop's registers and address streams cost more than the shared reads save;
  // a member computed far ahead of its place would hold its buffer that much longer.
  constexpr size_t kMaxMembers = 8, kMaxBuffers = 16;
  constexpr ValueId kMaxDistance = 48;
  struct Group {
    ValueId head;
    Shape space;
    std::vector<ValueId> members, buffers;  // buffers: members and what they read
  };
  std::vector<Group> open;
  f.loopAt.resize(g.nodes.size());
  for (size_t i = 0; i < g.nodes.size(); ++i) {
    f.loopAt[i] = static_cast<ValueId>(i);
    const Node& n = g.nodes[i];
    if (hasSideEffect(n)) open.clear();
    const auto v = static_cast<ValueId>(i);
    open.erase(std::remove_if(open.begin(), open.end(), [&](const Group& grp) { return v - grp.head > kMaxDistance; }),
               open.end());
    if (!isLoopNode(g, f, i)) continue;
    const Shape* space = memberSpace(g, n);
    if (!space) continue;
    std::vector<std::pair<ValueId, bool>> leaves;
    if (!loopLeaves(g, f, v, *space, true, leaves)) continue;
    // A sum along the last axis makes that loop a scalar one: the members would lose their
    // vectors. So every member keeps the last axis, and the group's loop can be split along it.
    if (space->empty() || !splittable(n, *space).back()) continue;
    bool joined = false;
    for (Group& grp : open) {
      if (grp.space != *space || grp.members.size() == kMaxMembers) continue;
      auto has = [](const std::vector<ValueId>& xs, ValueId x) { return std::find(xs.begin(), xs.end(), x) != xs.end(); };
      bool ok = true, shares = false;
      std::vector<ValueId> buffers = grp.buffers;
      buffers.push_back(v);
      for (auto [l, same] : leaves) {
        const bool member = has(grp.members, l);
        // Inputs and parameters exist from the start (a parameter update closed the group).
        const OpKind op = g.at(l).op;
        ok &= l < grp.head || op == OpKind::Input || op == OpKind::Param || (member && same);
        shares |= member || (has(grp.buffers, l) && g.at(l).shape == *space);
        if (!has(buffers, l)) buffers.push_back(l);
      }
      if (!ok || !shares || buffers.size() > kMaxBuffers) continue;
      grp.members.push_back(v);
      grp.buffers = std::move(buffers);
      f.loopAt[i] = grp.head;
      joined = true;
      break;
    }
    if (joined) continue;
    Group grp{v, *space, {v}, {v}};
    for (auto [l, same] : leaves)
      if (std::find(grp.buffers.begin(), grp.buffers.end(), l) == grp.buffers.end()) grp.buffers.push_back(l);
    open.push_back(std::move(grp));
  }
}

}  // namespace

Shape groupSpace(const Graph& g, const std::vector<ValueId>& members, int* split) {
  const Shape space = *memberSpace(g, g.at(members.front()));
  std::vector<bool> common(space.size(), true);
  for (ValueId m : members) {
    const std::vector<bool> ok = splittable(g.at(m), space);
    for (size_t d = 0; d < common.size(); ++d) common[d] = common[d] && ok[d];
  }
  const auto first = std::find(common.begin(), common.end(), true);
  *split = first == common.end() ? -1 : static_cast<int>(first - common.begin());
  return space;
}

FusionPlan planFusion(const Graph& g, const std::vector<ValueId>& fetches) {
  const size_t n = g.nodes.size();
  FusionPlan f;
  std::vector<bool> fetched(n, false);
  for (ValueId v : fetches) fetched[static_cast<size_t>(v)] = true;

  // Liveness: what the fetches and the side effects (updates, renormalising gathers) need.
  f.emitted.assign(n, false);
  for (size_t i = n; i-- > 0;) {
    const Node& nd = g.nodes[i];
    if (fetched[i] || hasSideEffect(nd)) f.emitted[i] = true;
    if (!f.emitted[i]) continue;
    for (ValueId in : nd.inputs) f.emitted[static_cast<size_t>(in)] = true;
  }

  std::vector<std::vector<ValueId>> users(n);
  f.uses.assign(n, 0);
  for (size_t i = 0; i < n; ++i) {
    if (!f.emitted[i]) continue;
    for (ValueId in : g.nodes[i].inputs) {
      ++f.uses[static_cast<size_t>(in)];
      users[static_cast<size_t>(in)].push_back(static_cast<ValueId>(i));
    }
  }

  f.materialized.assign(n, false);
  // Per node computed inline: the arithmetic ops it takes to compute it from stored buffers,
  // and those buffers (its tree's leaves).
  std::vector<int> recompute(n, 0);
  std::vector<std::vector<ValueId>> leaves(n);
  for (size_t i = 0; i < n; ++i) {
    if (!f.emitted[i]) continue;
    const Node& nd = g.nodes[i];
    if (opInfo(nd.op).cls == OpClass::Update) continue;  // no value, only a side effect
    bool mat = fetched[i] || users[i].empty() || nd.op == OpKind::Input || nd.op == OpKind::Param;
    // A few adds, subs, muls, negs or broadcasts of stored operands (batch norm's x - mean,
    // Dice's (1 - p) * alpha and its gradient's products, DIN's target repeated over the
    // history) cost less to compute again in every loop that reads them than to store and load
    // back, which is what these memory-bound loops pay for: they fuse into all of their
    // consumers. Bounded by the ops of the recomputed tree, and by the stored buffers of its
    // size it reads, so that a consumer loop gains few new streams.
    constexpr int kMaxRecomputedOps = 16;
    constexpr size_t kMaxRecomputedLeaves = 3;
    bool cheap = nd.op == OpKind::Add || nd.op == OpKind::Sub || nd.op == OpKind::Mul || nd.op == OpKind::Neg ||
                 nd.op == OpKind::BroadcastTo;
    int ops = 1;
    std::vector<ValueId> reads;
    for (ValueId in : nd.inputs) {
      const auto k = static_cast<size_t>(in);
      const Node& x = g.at(in);
      if (x.op == OpKind::Const || x.op == OpKind::BatchSize) continue;
      if (f.materialized[k]) {  // a small broadcast operand (a bias, Dice's alpha) stays in cache
        if (x.shape == nd.shape && std::find(reads.begin(), reads.end(), in) == reads.end()) reads.push_back(in);
        continue;
      }
      cheap &= recompute[k] > 0;
      ops += recompute[k];
      for (ValueId l : leaves[k])
        if (std::find(reads.begin(), reads.end(), l) == reads.end()) reads.push_back(l);
    }
    cheap &= ops <= kMaxRecomputedOps && reads.size() <= kMaxRecomputedLeaves;
    // Read by scatter_adds from its stored source, row by row (repeatedGradientSource).
    const bool repeatedForScatters =
        nd.op == OpKind::BroadcastTo && f.materialized[static_cast<size_t>(nd.inputs[0])] &&
        std::all_of(users[i].begin(), users[i].end(), [&](ValueId u) {
          return repeatedGradientSource(g, u) >= 0 && g.at(u).inputs[1] == static_cast<ValueId>(i);
        });
    if (!mat && repeatedForScatters) continue;
    for (ValueId u : users[i])
      if (!shouldFuse(g, static_cast<ValueId>(i), u, cheap ? 1 : f.uses[i])) mat = true;
    f.materialized[i] = mat;
    if (!mat && cheap) {
      recompute[i] = ops;
      leaves[i] = std::move(reads);
    }
  }

  f.storageRoot.resize(n);
  for (size_t i = 0; i < n; ++i) {
    const Node& nd = g.nodes[i];
    f.storageRoot[i] = nd.op == OpKind::Reshape ? f.storageRoot[static_cast<size_t>(nd.inputs[0])]
                                                : static_cast<ValueId>(i);
  }

  // A fused value is computed in the loop of the materialized node that (transitively) reads it.
  std::vector<int> exec(n);
  for (size_t i = n; i-- > 0;) {
    exec[i] = static_cast<int>(i);
    if (f.emitted[i] && !f.materialized[i])
      for (ValueId u : users[i]) exec[i] = std::max(exec[i], exec[static_cast<size_t>(u)]);
  }
  f.lastRead.assign(n, 0);
  for (size_t i = 0; i < n; ++i) {
    int last = static_cast<int>(i);
    for (ValueId u : users[i]) last = std::max(last, exec[static_cast<size_t>(u)]);
    if (fetched[i]) last = static_cast<int>(n);
    f.lastRead[i] = last;
  }
  // Reading a Reshape reads its root's buffer.
  for (size_t i = 0; i < n; ++i) {
    auto root = static_cast<size_t>(f.storageRoot[i]);
    if (root != i && f.emitted[i]) f.lastRead[root] = std::max(f.lastRead[root], f.lastRead[i]);
  }
  f.fetchSlot.assign(n, -1);
  for (size_t k = fetches.size(); k-- > 0;) {  // the first fetch of a value wins
    const auto v = static_cast<size_t>(fetches[k]);
    const OpKind op = g.nodes[v].op;
    if (f.materialized[v] && op != OpKind::Input && op != OpKind::Param && op != OpKind::Reshape)
      f.fetchSlot[v] = static_cast<int>(k);
  }
  groupSiblingLoops(g, f);
  return f;
}

}  // namespace recc
