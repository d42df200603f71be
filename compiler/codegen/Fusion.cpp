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

FusionPlan planFusion(const Graph& g, const std::vector<ValueId>& fetches) {
  const size_t n = g.nodes.size();
  FusionPlan f;
  std::vector<bool> fetched(n, false);
  for (ValueId v : fetches) fetched[static_cast<size_t>(v)] = true;

  // Liveness: what the fetches and the side effects (updates, renormalising gathers) need.
  f.emitted.assign(n, false);
  for (size_t i = n; i-- > 0;) {
    const Node& nd = g.nodes[i];
    // BatchMoments updates its running statistics in place, like a renormalising Gather.
    bool sideEffect = nd.op == OpKind::Update || nd.op == OpKind::SparseUpdate || nd.op == OpKind::BatchMoments ||
                      (nd.op == OpKind::Gather && nd.attrs.f("max_norm") > 0);
    if (fetched[i] || sideEffect) f.emitted[i] = true;
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
  for (size_t i = 0; i < n; ++i) {
    if (!f.emitted[i]) continue;
    const Node& nd = g.nodes[i];
    if (opInfo(nd.op).cls == OpClass::Update) continue;  // no value, only a side effect
    bool mat = fetched[i] || users[i].empty() || nd.op == OpKind::Input || nd.op == OpKind::Param;
    // One add, sub, mul or neg of stored operands (batch norm's x - mean) costs less to compute
    // again in every loop that reads it than to store and load back: it fuses into all of them.
    bool cheap = nd.op == OpKind::Add || nd.op == OpKind::Sub || nd.op == OpKind::Mul || nd.op == OpKind::Neg;
    for (ValueId in : nd.inputs) {
      const Node& x = g.at(in);
      cheap &= f.materialized[static_cast<size_t>(in)] || x.op == OpKind::Const || x.op == OpKind::BatchSize;
    }
    for (ValueId u : users[i])
      if (!shouldFuse(g, static_cast<ValueId>(i), u, cheap ? 1 : f.uses[i])) mat = true;
    f.materialized[i] = mat;
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
  return f;
}

}  // namespace recc
