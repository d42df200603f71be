// Gradient rules (VJPs), one per op of Ops.def, written with other ops of the table.
#pragma once
#include <vector>

#include "compiler/ir/Graph.h"

namespace recc {

/// Appends the nodes computing d(loss)/d(input k) for each input of node `v`, given `gy` =
/// d(loss)/d(v). Returns one ValueId per input, -1 where no gradient flows (ids, labels of
/// non-differentiable inputs, leaves). Throws DiagError naming the op if it has no rule.
std::vector<ValueId> gradient(GraphBuilder& b, ValueId v, ValueId gy);

/// True if the op has a gradient rule (possibly "no gradient flows", e.g. Step, Input).
bool hasGradientRule(OpKind op);

}  // namespace recc
