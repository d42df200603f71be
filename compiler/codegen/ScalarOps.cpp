// Scalar math for elementwise ops; written with selects (no branches) so loops vectorize.
#include "compiler/codegen/ScalarOps.h"

#include <llvm/IR/Intrinsics.h>

#include "compiler/ir/Diag.h"

namespace recc {

namespace {

llvm::Value* f32(llvm::IRBuilder<>& b, double v) {
  return llvm::ConstantFP::get(b.getFloatTy(), v);
}
llvm::Value* exp(llvm::IRBuilder<>& b, llvm::Value* x) {
  return b.CreateUnaryIntrinsic(llvm::Intrinsic::exp, x);
}
llvm::Value* fabs(llvm::IRBuilder<>& b, llvm::Value* x) {
  return b.CreateUnaryIntrinsic(llvm::Intrinsic::fabs, x);
}

// log(1 + u) accurate for small u: log(w) * u / (w - 1) with w = 1 + u cancels the rounding
// of w (Goldberg's trick); exactly u when w rounds to 1.
llvm::Value* log1p(llvm::IRBuilder<>& b, llvm::Value* u) {
  llvm::Value* w = b.CreateFAdd(f32(b, 1), u);
  llvm::Value* wm1 = b.CreateFSub(w, f32(b, 1));
  llvm::Value* l = b.CreateUnaryIntrinsic(llvm::Intrinsic::log, w);
  llvm::Value* corrected = b.CreateFDiv(b.CreateFMul(l, u), wm1);
  return b.CreateSelect(b.CreateFCmpOEQ(w, f32(b, 1)), u, corrected);
}

// tanh from one exp: (1 - t) / (1 + t) with t = exp(-2|x|), sign restored; near 0 that
// cancels, so |x| < 0.1 uses the series x - x^3/3 + 2x^5/15 (error < 6e-8 relative).
llvm::Value* tanh(llvm::IRBuilder<>& b, llvm::Value* x) {
  llvm::Value* ax = fabs(b, x);
  llvm::Value* t = exp(b, b.CreateFMul(f32(b, -2), ax));
  llvm::Value* big = b.CreateFDiv(b.CreateFSub(f32(b, 1), t), b.CreateFAdd(f32(b, 1), t));
  big = b.CreateBinaryIntrinsic(llvm::Intrinsic::copysign, big, x);
  llvm::Value* x2 = b.CreateFMul(x, x);
  llvm::Value* poly = b.CreateFAdd(f32(b, -1.0 / 3), b.CreateFMul(x2, f32(b, 2.0 / 15)));
  poly = b.CreateFMul(x, b.CreateFAdd(f32(b, 1), b.CreateFMul(x2, poly)));
  return b.CreateSelect(b.CreateFCmpOLT(ax, f32(b, 0.1)), poly, big);
}

}  // namespace

llvm::Value* emitScalarOp(llvm::IRBuilder<>& b, OpKind op, const Attrs& attrs, llvm::Value* x,
                          llvm::Value* y) {
  switch (op) {
    case OpKind::LeakyRelu:
      return b.CreateSelect(b.CreateFCmpOGT(x, f32(b, 0)), x, b.CreateFMul(x, f32(b, attrs.f("alpha", 0.01))));
    case OpKind::Prelu: return b.CreateSelect(b.CreateFCmpOGT(x, f32(b, 0)), x, b.CreateFMul(y, x));
    case OpKind::MaskedFill:  // unordered !=: a NaN mask counts as set, as in C++
      return b.CreateSelect(b.CreateFCmpUNE(y, f32(b, 0)), x, f32(b, attrs.f("value")));
    case OpKind::PadMask: {
      llvm::Value* pad = b.getInt32(static_cast<uint32_t>(attrs.i("pad", 0)));
      return b.CreateSelect(b.CreateICmpNE(x, pad), f32(b, 1), f32(b, 0));
    }
    case OpKind::Add: return b.CreateFAdd(x, y);
    case OpKind::Sub: return b.CreateFSub(x, y);
    case OpKind::Mul: return b.CreateFMul(x, y);
    case OpKind::Div: return b.CreateFDiv(x, y);
    case OpKind::Neg: return b.CreateFNeg(x);
    case OpKind::Exp: return exp(b, x);
    case OpKind::Log: return b.CreateUnaryIntrinsic(llvm::Intrinsic::log, x);
    case OpKind::Sqrt: return b.CreateUnaryIntrinsic(llvm::Intrinsic::sqrt, x);
    case OpKind::Sigmoid:
      return b.CreateFDiv(f32(b, 1), b.CreateFAdd(f32(b, 1), exp(b, b.CreateFNeg(x))));
    case OpKind::Tanh: return tanh(b, x);
    case OpKind::Relu: return b.CreateSelect(b.CreateFCmpOGT(x, f32(b, 0)), x, f32(b, 0));
    case OpKind::Step: return b.CreateSelect(b.CreateFCmpOGT(x, f32(b, 0)), f32(b, 1), f32(b, 0));
    case OpKind::BceWithLogits: {
      // max(z,0) - z*y + log(1 + exp(-|z|)): never overflows exp.
      llvm::Value* pos = b.CreateSelect(b.CreateFCmpOGT(x, f32(b, 0)), x, f32(b, 0));
      llvm::Value* soft = log1p(b, exp(b, b.CreateFNeg(fabs(b, x))));
      return b.CreateFAdd(b.CreateFSub(pos, b.CreateFMul(x, y)), soft);
    }
    default:
      break;
  }
  throw DiagError({}, std::string("codegen: ") + opName(op) + " has no scalar emitter");
}

}  // namespace recc
