// How each op of Ops.def lowers: fused into a loop (scalar emitter) or a runtime kernel call.
#pragma once
#include "compiler/ops/OpTable.h"

namespace recc {

enum class Lowering { None, FusedLoop, KernelCall, Leaf };
/// The lowering strategy of every op; tests/ir/op_table_test.cpp asserts none is None.
Lowering loweringOf(OpKind op);

}  // namespace recc
