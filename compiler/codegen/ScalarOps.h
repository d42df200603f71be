// Per-op scalar emitters: the body of an elementwise op on one f32 element, as LLVM IR.
#pragma once
#include <llvm/IR/IRBuilder.h>

#include "compiler/ops/OpTable.h"

namespace recc {

/// Emits op(x) or op(x, y) on f32 scalars (y is null for unary ops). Throws DiagError for
/// an op that is not elementwise.
llvm::Value* emitScalarOp(llvm::IRBuilder<>& b, OpKind op, llvm::Value* x, llvm::Value* y);

}  // namespace recc
