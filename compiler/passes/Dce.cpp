// Dead-code elimination (keep what the roots and the (sparse) updates need), and the renumbering
// and node-by-node rebuilding that graph passes share.
#include "compiler/passes/Autodiff.h"

namespace recc {

void renumberValues(Graph& g, const std::vector<ValueId>& newId) {
  auto remap = [&](ValueId v) { return v < 0 ? ValueId(-1) : newId[static_cast<size_t>(v)]; };
  // Entries whose value died disappear (e.g. losses in an inference graph).
  auto remapList = [&](auto& list) {
    auto out = list;
    out.clear();
    for (auto item : list)
      if ((item.value = remap(item.value)) >= 0) out.push_back(item);
    list = std::move(out);
  };
  remapList(g.outputs);
  remapList(g.named);
  remapList(g.losses);
  g.loss = remap(g.loss);
  for (ValueId& gr : g.grads) gr = remap(gr);
}

int rebuildNodes(Graph& forward, const std::function<ValueId(GraphBuilder& b, const Node& n)>& rewrite) {
  Graph g = forward;
  g.nodes.clear();
  GraphBuilder b(g);
  std::vector<ValueId> id(forward.nodes.size(), -1);
  int replaced = 0;
  for (size_t i = 0; i < forward.nodes.size(); ++i) {
    Node n = forward.nodes[i];
    for (ValueId& in : n.inputs) in = id[static_cast<size_t>(in)];
    id[i] = rewrite(b, n);
    if (id[i] >= 0) {
      ++replaced;
      continue;
    }
    g.nodes.push_back(std::move(n));
    id[i] = static_cast<ValueId>(g.nodes.size() - 1);
  }
  if (!replaced) return 0;
  renumberValues(g, id);
  forward = std::move(g);
  return replaced;
}

void eliminateDeadCode(Graph& g, std::vector<ValueId>& roots, bool keepUpdates) {
  const size_t n = g.nodes.size();
  std::vector<bool> live(n, false);
  for (ValueId r : roots)
    if (r >= 0) live[static_cast<size_t>(r)] = true;
  for (size_t i = 0; i < n && keepUpdates; ++i)
    if (opInfo(g.nodes[i].op).cls == OpClass::Update) live[i] = true;  // side effects are kept
  // Operands precede their users, so one backward sweep propagates liveness.
  for (size_t i = n; i-- > 0;)
    if (live[i])
      for (ValueId in : g.nodes[i].inputs) live[static_cast<size_t>(in)] = true;

  std::vector<ValueId> newId(n, -1);
  std::vector<Node> kept;
  for (size_t i = 0; i < n; ++i) {
    if (!live[i]) continue;
    newId[i] = static_cast<ValueId>(kept.size());
    Node node = std::move(g.nodes[i]);
    for (ValueId& in : node.inputs) in = newId[static_cast<size_t>(in)];
    kept.push_back(std::move(node));
  }
  g.nodes = std::move(kept);

  renumberValues(g, newId);
  for (ValueId& r : roots) r = r < 0 ? ValueId(-1) : newId[static_cast<size_t>(r)];
}

}  // namespace recc
