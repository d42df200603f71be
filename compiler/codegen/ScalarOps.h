// Per-op scalar emitters: the body of an elementwise op on one f32 element, as LLVM IR.
#pragma once
#include <llvm/IR/IRBuilder.h>

#include "compiler/ir/Graph.h"

namespace recc {

/// Emits op(x) or op(x, y) on f32 scalars (y is null for unary ops; x is an i32 id for
/// pad_mask); attributes (alpha, value, pad) come from `attrs`. Throws DiagError for an op that
/// is not elementwise or needs more than its operands (dropout: see the emitter).
llvm::Value* emitScalarOp(llvm::IRBuilder<>& b, OpKind op, const Attrs& attrs, llvm::Value* x,
                          llvm::Value* y);

}  // namespace recc
