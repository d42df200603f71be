// Graph verifier.
#include "compiler/ir/Verifier.h"

#include "compiler/ops/ShapeRules.h"

namespace recc {

void verify(const Graph& g) {
  for (size_t i = 0; i < g.nodes.size(); ++i) {
    const Node& n = g.nodes[i];
    std::string where = "verifier: %" + std::to_string(i) + " = " + opName(n.op) + ": ";
    const OpInfo& info = opInfo(n.op);
    if (info.arity >= 0 && static_cast<int>(n.inputs.size()) != info.arity)
      throw DiagError(n.loc, where + "wrong number of operands");
    for (ValueId v : n.inputs)
      if (v < 0 || static_cast<size_t>(v) >= i)
        throw DiagError(n.loc, where + "operand %" + std::to_string(v) + " is not defined before use");
    ShapeResult r = inferShape(g, n.op, n.inputs, n.attrs);
    if (!r.error.empty()) throw DiagError(n.loc, where + r.error);
    if (r.shape != n.shape || r.dtype != n.dtype)
      throw DiagError(n.loc, where + "recorded type " + dtypeName(n.dtype) + shapeStr(n.shape) +
                                 " differs from inferred " + dtypeName(r.dtype) + shapeStr(r.shape));
    // A table stored as row records is stepped through only by lookups and its row-sparse update.
    for (size_t k = 0; k < n.inputs.size(); ++k) {
      const Node& x = g.at(n.inputs[k]);
      if (x.op != OpKind::Param) continue;
      const ParamDecl& d = g.params.at(static_cast<size_t>(x.attrs.i("index")));
      if (d.rowRecords && !(k == 0 && (n.op == OpKind::Gather || n.op == OpKind::SparseUpdate)))
        throw DiagError(n.loc, where + "reads " + d.name + ", a table stored as row records, which only lookups and " +
                                   "its row-sparse update can read");
    }
  }
  auto check = [&](ValueId v, const char* what) {
    if (v < 0 || static_cast<size_t>(v) >= g.nodes.size())
      throw DiagError({}, std::string("verifier: ") + what + " refers to an undefined value");
  };
  for (const NamedValue& o : g.outputs) check(o.value, "output");
  for (const LossTerm& l : g.losses) {
    check(l.value, "loss");
    if (!g.at(l.value).shape.empty())
      throw DiagError(l.loc, "loss must be a scalar, got " + shapeStr(g.at(l.value).shape));
  }
}

}  // namespace recc
