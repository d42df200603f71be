// Scalar math for elementwise ops; written with selects (no branches) so loops vectorize.
#include "compiler/codegen/ScalarOps.h"

#include <cmath>

#include <llvm/IR/Intrinsics.h>

#include "compiler/ir/Diag.h"

namespace recc {

namespace {

llvm::Value* f32(llvm::IRBuilder<>& b, double v) {
  return llvm::ConstantFP::get(b.getFloatTy(), v);
}
llvm::Value* fma(llvm::IRBuilder<>& b, llvm::Value* x, llvm::Value* y, llvm::Value* z) {
  return b.CreateIntrinsic(llvm::Intrinsic::fmuladd, {x->getType()}, {x, y, z});
}
llvm::Value* i32c(llvm::IRBuilder<>& b, int32_t v) { return b.getInt32(static_cast<uint32_t>(v)); }
llvm::Value* asFloat(llvm::IRBuilder<>& b, llvm::Value* bits) { return b.CreateBitCast(bits, b.getFloatTy()); }

// exp(x) in straight-line f32 arithmetic, so that loops calling it vectorise (the llvm.exp
// intrinsic becomes one libm call per lane). Cody-Waite reduction x = n ln2 + r, |r| <= ln2/2,
// e^r by its degree-7 Taylor polynomial (truncation < 1e-8 relative), then 2^n applied in two
// exact power-of-two factors so that results near overflow and in the subnormal range round
// once, like expf. Error about 1 ulp; exp(+-inf) = inf / 0, NaN stays NaN.
llvm::Value* exp(llvm::IRBuilder<>& b, llvm::Value* x) {
  llvm::Value* lo = f32(b, -104.0), * hi = f32(b, 89.0);
  // Ordered compares: a NaN passes both clamps unchanged.
  llvm::Value* xc = b.CreateSelect(b.CreateFCmpOLT(x, lo), lo, x);
  xc = b.CreateSelect(b.CreateFCmpOGT(xc, hi), hi, xc);
  llvm::Value* n = b.CreateUnaryIntrinsic(llvm::Intrinsic::roundeven, b.CreateFMul(xc, f32(b, 1.44269504088896341)));
  llvm::Value* r = fma(b, n, f32(b, -0.693359375), xc);
  r = fma(b, n, f32(b, 2.12194440e-4), r);
  llvm::Value* p = f32(b, 1.0 / 5040);
  for (double c : {1.0 / 720, 1.0 / 120, 1.0 / 24, 1.0 / 6, 0.5, 1.0, 1.0}) p = fma(b, p, r, f32(b, c));
  // 2^n = 2^(n - m) * 2^m with m = 1 (n > 0) or -64 (n <= 0): both factors are normal floats.
  llvm::Value* ni = b.CreateFPToSI(b.CreateSelect(b.CreateFCmpUNO(n, n), f32(b, 0), n), b.getInt32Ty());
  llvm::Value* pos = b.CreateICmpSGT(ni, i32c(b, 0));
  llvm::Value* m = b.CreateSelect(pos, i32c(b, 1), i32c(b, -64));
  llvm::Value* scale = asFloat(b, b.CreateShl(b.CreateAdd(b.CreateSub(ni, m), i32c(b, 127)), 23));
  llvm::Value* tail = b.CreateSelect(pos, f32(b, 2.0), f32(b, 0x1p-64));
  llvm::Value* y = b.CreateFMul(b.CreateFMul(p, scale), tail);
  return b.CreateSelect(b.CreateFCmpUNO(x, x), x, y);
}

// log(x) in straight-line f32 arithmetic (vectorisable, see exp): x = 2^e m with m in
// [sqrt(1/2), sqrt(2)), log m = 2 atanh(s) = 2 (s + s^3/3 + ... + s^9/9), s = (m-1)/(m+1)
// (|s| <= 0.172: truncation < 1e-9). Subnormals are scaled up first; log(0) = -inf,
// log(x < 0) = NaN, log(inf) = inf, NaN stays NaN.
llvm::Value* log(llvm::IRBuilder<>& b, llvm::Value* x) {
  llvm::Value* tiny = b.CreateFCmpOLT(x, f32(b, 0x1p-126));
  llvm::Value* xs = b.CreateSelect(tiny, b.CreateFMul(x, f32(b, 0x1p23)), x);
  llvm::Value* bits = b.CreateBitCast(xs, b.getInt32Ty());
  llvm::Value* e = b.CreateSub(b.CreateLShr(bits, 23), i32c(b, 127));
  e = b.CreateSelect(tiny, b.CreateSub(e, i32c(b, 23)), e);
  llvm::Value* mant = asFloat(b, b.CreateOr(b.CreateAnd(bits, i32c(b, 0x7fffff)), i32c(b, 0x3f800000)));
  llvm::Value* big = b.CreateFCmpOGT(mant, f32(b, 1.41421356237309505));
  mant = b.CreateSelect(big, b.CreateFMul(mant, f32(b, 0.5)), mant);
  e = b.CreateSelect(big, b.CreateAdd(e, i32c(b, 1)), e);
  llvm::Value* s = b.CreateFDiv(b.CreateFSub(mant, f32(b, 1)), b.CreateFAdd(mant, f32(b, 1)));
  llvm::Value* s2 = b.CreateFMul(s, s);
  llvm::Value* p = f32(b, 2.0 / 9);
  for (double c : {2.0 / 7, 2.0 / 5, 2.0 / 3, 2.0}) p = fma(b, p, s2, f32(b, c));
  llvm::Value* lm = b.CreateFMul(p, s);
  llvm::Value* ef = b.CreateSIToFP(e, b.getFloatTy());
  // e ln2 split in two parts so that the large term is exact.
  llvm::Value* y = fma(b, ef, f32(b, 0.693359375), fma(b, ef, f32(b, -2.12194440e-4), lm));
  y = b.CreateSelect(b.CreateFCmpOEQ(x, f32(b, 0)), f32(b, -INFINITY), y);
  y = b.CreateSelect(b.CreateFCmpOEQ(x, f32(b, INFINITY)), x, y);
  y = b.CreateSelect(b.CreateFCmpOLT(x, f32(b, 0)), f32(b, NAN), y);
  return b.CreateSelect(b.CreateFCmpUNO(x, x), x, y);
}
llvm::Value* fabs(llvm::IRBuilder<>& b, llvm::Value* x) {
  return b.CreateUnaryIntrinsic(llvm::Intrinsic::fabs, x);
}

// log(1 + u) accurate for small u: log(w) * u / (w - 1) with w = 1 + u cancels the rounding
// of w (Goldberg's trick); exactly u when w rounds to 1.
llvm::Value* log1p(llvm::IRBuilder<>& b, llvm::Value* u) {
  llvm::Value* w = b.CreateFAdd(f32(b, 1), u);
  llvm::Value* wm1 = b.CreateFSub(w, f32(b, 1));
  llvm::Value* l = log(b, w);
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
    case OpKind::Log: return log(b, x);
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
