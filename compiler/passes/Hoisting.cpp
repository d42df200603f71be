// hoistParameterOnly: parameter-only values computed once per parameter version.
#include "compiler/passes/Hoisting.h"

#include <string>

#include "compiler/ir/Verifier.h"
#include "compiler/passes/Autodiff.h"

namespace recc {

namespace {

/// Whether v depends on parameters and constants only, given its operands' answers.
bool parameterOnly(const Graph& g, ValueId v, const std::vector<bool>& known) {
  const Node& n = g.at(v);
  if (hasBatch(n.shape)) return false;
  switch (opInfo(n.op).cls) {
    case OpClass::Leaf:
      return n.op == OpKind::Param || n.op == OpKind::Const || n.op == OpKind::PositionalEncoding;
    case OpClass::Update:
      return false;
    default:
      break;
  }
  // Ops with effects beyond their value: batch moments update running statistics, dropout
  // draws a mask per step, a renormalising gather writes its table.
  if (n.op == OpKind::BatchMoments || n.op == OpKind::Dropout ||
      (n.op == OpKind::Gather && n.attrs.f("max_norm") != 0))
    return false;
  for (ValueId in : n.inputs)
    if (!known[static_cast<size_t>(in)]) return false;
  return true;
}

}  // namespace

Graph hoistParameterOnly(Graph& g, std::vector<ValueId>& roots) {
  const size_t count = g.nodes.size();
  std::vector<bool> fixed(count, false), hoist(count, false);
  for (size_t i = 0; i < count; ++i) fixed[i] = parameterOnly(g, static_cast<ValueId>(i), fixed);
  // Only what the outputs and roots need counts: a rewrite may have left dead nodes behind.
  std::vector<bool> live(count, false);
  for (ValueId r : roots) live[static_cast<size_t>(r)] = true;
  for (const NamedValue& o : g.outputs) live[static_cast<size_t>(o.value)] = true;
  for (size_t i = 0; i < count; ++i)  // side effects (a training step's updates) count too
    if (opInfo(g.nodes[i].op).cls == OpClass::Update) live[i] = true;
  for (size_t i = count; i-- > 0;)
    if (live[i])
      for (ValueId in : g.nodes[i].inputs) live[static_cast<size_t>(in)] = true;
  // Hoisted: what an input-dependent node reads, unless it is a parameter or constant already.
  for (size_t i = 0; i < count; ++i) {
    if (fixed[i] || !live[i]) continue;
    for (ValueId in : g.nodes[i].inputs) {
      const Node& n = g.at(in);
      if (fixed[static_cast<size_t>(in)] && n.op != OpKind::Param && n.op != OpKind::Const)
        hoist[static_cast<size_t>(in)] = true;
    }
  }

  Graph prep = g;
  prep.inputs.clear();  // it reads none
  prep.outputs.clear();
  prep.named.clear();
  prep.losses.clear();
  prep.loss = -1;
  prep.grads.clear();
  std::vector<ValueId> prepRoots;
  for (size_t i = 0; i < count; ++i) {
    if (!hoist[i]) continue;
    const Node& n = g.nodes[i];
    const std::string name = "hoisted" + std::to_string(prepRoots.size()) + (n.name.empty() ? "" : "." + n.name);
    prepRoots.push_back(static_cast<ValueId>(i));
    prep.outputs.push_back({name, static_cast<ValueId>(i), n.loc});
  }
  eliminateDeadCode(prep, prepRoots, /*keepUpdates=*/false);  // a step's updates stay in g only
  if (prepRoots.empty()) return prep;

  const size_t firstDerived = g.params.size();
  for (const NamedValue& o : prep.outputs) {
    ParamDecl d;
    d.name = o.name;
    d.shape = prep.at(o.value).shape;
    d.loc = o.loc;
    d.derived = true;
    g.params.push_back(d);
  }
  // The caller's roots ride along as outputs so that rebuildNodes renumbers them too.
  const size_t outputs = g.outputs.size();
  for (ValueId r : roots) g.outputs.push_back({"", r, {}});
  size_t i = 0, k = 0;
  rebuildNodes(g, [&](GraphBuilder& b, const Node& n) -> ValueId {
    if (!hoist[i++]) return -1;
    const size_t index = firstDerived + k++;
    return b.add(OpKind::Param, {}, Attrs().set("index", static_cast<int64_t>(index)), n.loc, g.params[index].name);
  });
  for (size_t r = 0; r < roots.size(); ++r) roots[r] = g.outputs[outputs + r].value;
  g.outputs.resize(outputs);
  // Keep the outputs as well as the roots (eliminateDeadCode renumbers g.outputs itself).
  std::vector<ValueId> keep = roots, outs = outputValues(g);
  keep.insert(keep.end(), outs.begin(), outs.end());
  eliminateDeadCode(g, keep);
  roots.assign(keep.begin(), keep.begin() + static_cast<std::ptrdiff_t>(roots.size()));
  verify(g);
  verify(prep);
  return prep;
}

}  // namespace recc
