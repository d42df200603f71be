// Gradient rules (VJPs), one per op of Ops.def, each written with forward ops of the table so
// that later passes (shape checks, DCE, fusion, codegen) never see a gradient-specific op.
#include "compiler/ops/Gradients.h"

#include <string>

#include "compiler/ops/Composites.h"

namespace recc {

namespace {

/// Small DSL over GraphBuilder: every node gets the location of the forward node being
/// differentiated, so a shape error in a gradient still points at the user's line.
struct G {
  GraphBuilder& b;
  Loc loc;

  const Graph& g() { return b.graph(); }
  // By value: adding a node may reallocate the node vector and leave references dangling.
  Shape shape(ValueId v) { return g().at(v).shape; }
  bool isF32(ValueId v) { return g().at(v).dtype == DType::F32; }

  ValueId op(OpKind k, std::vector<ValueId> in, Attrs a = {}) { return b.add(k, std::move(in), std::move(a), loc); }
  ValueId add(ValueId x, ValueId y) { return op(OpKind::Add, {x, y}); }
  ValueId sub(ValueId x, ValueId y) { return op(OpKind::Sub, {x, y}); }
  ValueId mul(ValueId x, ValueId y) { return op(OpKind::Mul, {x, y}); }
  ValueId div(ValueId x, ValueId y) { return op(OpKind::Div, {x, y}); }
  ValueId neg(ValueId x) { return op(OpKind::Neg, {x}); }
  ValueId scalar(double v) { return b.constant(v, {}, loc); }
  ValueId matmul(ValueId x, ValueId y, int64_t ta, int64_t tb) {
    return op(OpKind::MatMul, {x, y}, Attrs().set("ta", ta).set("tb", tb));
  }
  /// Undo broadcasting: sum `gy` down to `target` (no node when the shapes already agree).
  ValueId sumTo(ValueId gy, const Shape& target) {
    if (shape(gy) == target) return gy;
    return op(OpKind::SumTo, {gy}, Attrs().set("shape", target));
  }
  ValueId broadcastTo(ValueId x, const Shape& target) {
    if (shape(x) == target) return x;
    return op(OpKind::BroadcastTo, {x}, Attrs().set("shape", target));
  }
  ValueId reshape(ValueId x, const Shape& target) {
    if (shape(x) == target) return x;
    return op(OpKind::Reshape, {x}, Attrs().set("shape", target));
  }
};

/// d/dx of a reduction over `axis` of x: put the reduced axis back (size 1), then broadcast.
ValueId unreduce(G& gb, ValueId gy, const Shape& x, int64_t axis, bool keepdims) {
  ValueId kept = gy;
  // Numpy broadcasting prepends axes, so a reduction over axis 0 needs no reshape; this also
  // keeps B-leading reshape restrictions out of the way when the batch axis is reduced.
  if (!keepdims && axis > 0) {
    Shape k = x;
    k[static_cast<size_t>(axis)] = Dim(1);
    kept = gb.reshape(gy, k);
  }
  return gb.broadcastTo(kept, x);
}

/// Mean over the last axis, kept: [..., D] -> [..., 1].
ValueId meanLast(G& gb, ValueId x) {
  const auto last = static_cast<int64_t>(gb.shape(x).size()) - 1;
  return gb.op(OpKind::Mean, {x}, Attrs().set("axis", last).set("keepdims", int64_t{1}));
}

/// The VJP of layer norm y = xhat * gamma + beta, xhat = (x - mean) / sqrt(var + eps) over the
/// last axis (biased variance), its statistics recomputed here with table ops:
///   dx = rstd * (g - mean(g) - xhat * mean(g * xhat)), g = gy * gamma;
///   dgamma = sum(gy * xhat), dbeta = sum(gy) down to [D].
std::vector<ValueId> layerNormGradient(G& gb, const std::vector<ValueId>& in, ValueId gy, double eps) {
  ValueId x = in[0], gamma = in[1];
  const Shape d = gb.shape(gamma);
  ValueId xc = gb.sub(x, meanLast(gb, x));
  ValueId var = meanLast(gb, gb.mul(xc, xc));
  ValueId rstd = gb.div(gb.scalar(1), gb.op(OpKind::Sqrt, {gb.add(var, gb.scalar(eps))}));
  ValueId xhat = gb.mul(xc, rstd);
  ValueId g = gb.mul(gy, gamma);
  ValueId inner = gb.sub(gb.sub(g, meanLast(gb, g)), gb.mul(xhat, meanLast(gb, gb.mul(g, xhat))));
  ValueId dx = gb.mul(rstd, inner);
  return {dx, gb.sumTo(gb.mul(gy, xhat), d), gb.sumTo(gy, d)};
}

}  // namespace

bool hasGradientRule(OpKind op) {
  // A switch with no default: adding an op to Ops.def without a case here fails the
  // build (-Wswitch -Werror); the op-table test checks the same at run time.
  switch (op) {
#define OP(E, NAME, ARITY, KIND) case OpKind::E: return true;
#include "compiler/ops/Ops.def"
#undef OP
  }
  return false;
}

std::vector<ValueId> gradient(GraphBuilder& b, ValueId v, ValueId gy) {
  const Node n = b.graph().at(v);  // copy: appending nodes may reallocate the node vector
  G gb{b, n.loc};
  const std::vector<ValueId>& in = n.inputs;
  auto sx = [&](size_t k) { return gb.shape(in[k]); };  // a copy, see G::shape
  ValueId y = v;
  switch (n.op) {
    // ---- leaves and side effects: nothing flows further ----
    case OpKind::Input:
    case OpKind::Param:
    case OpKind::Const:
    case OpKind::BatchSize:
    case OpKind::PositionalEncoding:
      return {};
    case OpKind::Update:
      return {-1, -1};
    case OpKind::SparseUpdate:
      return std::vector<ValueId>(in.size(), -1);

    // ---- elementwise; binary ops undo broadcasting with SumTo ----
    case OpKind::Add:
      return {gb.sumTo(gy, sx(0)), gb.sumTo(gy, sx(1))};
    case OpKind::Sub:
      return {gb.sumTo(gy, sx(0)), gb.sumTo(gb.neg(gy), sx(1))};
    case OpKind::Mul:
      return {gb.sumTo(gb.mul(gy, in[1]), sx(0)), gb.sumTo(gb.mul(gy, in[0]), sx(1))};
    case OpKind::Div: {
      // y = a / b: da = gy / b; db = -gy * a / b^2 = -(gy * y) / b.
      ValueId da = gb.div(gy, in[1]);
      ValueId db = gb.neg(gb.div(gb.mul(gy, y), in[1]));
      return {gb.sumTo(da, sx(0)), gb.sumTo(db, sx(1))};
    }
    case OpKind::Neg:
      return {gb.neg(gy)};
    case OpKind::Exp:
      return {gb.mul(gy, y)};
    case OpKind::Log:
      return {gb.div(gy, in[0])};
    case OpKind::Sqrt:
      return {gb.div(gb.mul(gy, gb.scalar(0.5)), y)};
    case OpKind::Sigmoid:
      return {gb.mul(gb.mul(gy, y), gb.sub(gb.scalar(1), y))};
    case OpKind::Tanh:
      return {gb.mul(gy, gb.sub(gb.scalar(1), gb.mul(y, y)))};
    case OpKind::Relu:
      return {gb.mul(gy, gb.op(OpKind::Step, {in[0]}))};
    case OpKind::Step:
      return {-1};  // piecewise constant: zero almost everywhere
    case OpKind::BceWithLogits: {
      // l = max(z,0) - z*y + log1p(exp(-|z|)): dl/dz = sigmoid(z) - y, dl/dy = -z.
      ValueId dz = gb.mul(gy, gb.sub(gb.op(OpKind::Sigmoid, {in[0]}), in[1]));
      ValueId dy = gb.neg(gb.mul(gy, in[0]));
      return {gb.sumTo(dz, sx(0)), gb.sumTo(dy, sx(1))};
    }

    case OpKind::LeakyRelu: {
      // dy/dx = 1 where x > 0 else alpha: step(x) * (1 - alpha) + alpha.
      double alpha = n.attrs.f("alpha", 0.01);
      ValueId slope = gb.add(gb.mul(gb.op(OpKind::Step, {in[0]}), gb.scalar(1 - alpha)), gb.scalar(alpha));
      return {gb.mul(gy, slope)};
    }
    case OpKind::Prelu: {
      // dx = gy * (step(x) + (1 - step(x)) * alpha); dalpha = gy * min(x, 0) = gy * (x - relu(x)).
      ValueId s = gb.op(OpKind::Step, {in[0]});
      ValueId slope = gb.add(s, gb.mul(gb.sub(gb.scalar(1), s), in[1]));
      ValueId neg = gb.sub(in[0], gb.op(OpKind::Relu, {in[0]}));
      return {gb.sumTo(gb.mul(gy, slope), sx(0)), gb.sumTo(gb.mul(gy, neg), sx(1))};
    }
    case OpKind::MaskedFill:
      // gy where the mask is set, 0 where x was replaced; the mask is piecewise constant.
      return {gb.sumTo(gb.op(OpKind::MaskedFill, {gy, in[1]}, Attrs().set("value", 0.0)), sx(0)), -1};
    case OpKind::PadMask:
      return {-1};
    case OpKind::Dropout:
      // Same attrs, same shape, same step: the same mask and scale.
      return {gb.op(OpKind::Dropout, {gy}, n.attrs)};

    // ---- reductions ----
    case OpKind::Sum:
      return {unreduce(gb, gy, sx(0), n.attrs.i("axis"), n.attrs.i("keepdims") != 0)};
    case OpKind::Mean: {
      int64_t axis = n.attrs.i("axis");
      const Dim d = sx(0)[static_cast<size_t>(axis)];
      ValueId scaled;
      if (d.isStatic()) scaled = gb.mul(gy, gb.scalar(1.0 / static_cast<double>(d.n)));
      else if (d.isBatch()) scaled = gb.div(gy, gb.op(OpKind::BatchSize, {}));
      else throw DiagError(n.loc, "mean: gradient over the unbound dimension " + d.str());
      return {unreduce(gb, scaled, sx(0), axis, n.attrs.i("keepdims") != 0)};
    }
    case OpKind::Max: {
      // gy flows to the elements equal to the max: y - x >= 0 everywhere, and
      // 1 - step(y - x) is 1 exactly where x == y.
      const Shape x = sx(0);
      const int64_t axis = n.attrs.i("axis");
      const bool keep = n.attrs.i("keepdims") != 0;
      ValueId yb = unreduce(gb, y, x, axis, keep);
      ValueId isMax = gb.sub(gb.scalar(1), gb.op(OpKind::Step, {gb.sub(yb, in[0])}));
      return {gb.mul(unreduce(gb, gy, x, axis, keep), isMax)};
    }
    case OpKind::SumTo:
      return {gb.broadcastTo(gy, sx(0))};

    // ---- layout ----
    case OpKind::BroadcastTo:
      return {gb.sumTo(gy, sx(0))};
    case OpKind::ShardSum:  // one shard: the identity
      return {gy};
    case OpKind::Reshape:
      if (!gb.isF32(in[0])) return {-1};
      return {gb.reshape(gy, sx(0))};
    case OpKind::Concat: {
      int64_t axis = n.attrs.i("axis");
      std::vector<ValueId> out;
      int64_t off = 0;
      for (size_t k = 0; k < in.size(); ++k) {
        int64_t len = sx(k)[static_cast<size_t>(axis)].n;  // static: the shape rule demands it
        out.push_back(in.size() == 1 ? gy
                                     : gb.op(OpKind::Slice, {gy},
                                             Attrs().set("axis", axis).set("begin", off).set("end", off + len)));
        off += len;
      }
      return out;
    }
    case OpKind::Transpose: {
      if (!gb.isF32(in[0])) return {-1};
      const Shape perm = n.attrs.shape("perm");
      Shape inv(perm.size());
      for (size_t j = 0; j < perm.size(); ++j) inv[static_cast<size_t>(perm[j].n)] = Dim(static_cast<int64_t>(j));
      return {gb.op(OpKind::Transpose, {gy}, Attrs().set("perm", inv))};
    }
    case OpKind::OneHot:
      return {-1};
    case OpKind::Slice: {
      if (!gb.isF32(in[0])) return {-1};
      int64_t axis = n.attrs.i("axis"), begin = n.attrs.i("begin"), end = n.attrs.i("end");
      const Shape x = sx(0);
      int64_t total = x[static_cast<size_t>(axis)].n;
      // Pad the gradient back with zeros on both sides (Const shapes may contain B).
      std::vector<ValueId> parts;
      auto zeros = [&](int64_t len) {
        Shape s = x;
        s[static_cast<size_t>(axis)] = Dim(len);
        return gb.b.constant(0.0, s, gb.loc);
      };
      if (begin > 0) parts.push_back(zeros(begin));
      parts.push_back(gy);
      if (end < total) parts.push_back(zeros(total - end));
      if (parts.size() == 1) return {gy};
      return {gb.op(OpKind::Concat, parts, Attrs().set("axis", axis))};
    }

    // ---- kernels ----
    case OpKind::MatMul: {
      // C = op(A) op(B); the four transpose cases, each written as one MatMul per operand. With
      // rank > 2 operands (leading dims L flattened into rows) the same formulas hold: the
      // weight gradients (ta=1) contract all of L, the row gradients keep it.
      bool ta = n.attrs.i("ta") != 0, tb = n.attrs.i("tb") != 0;
      ValueId a = in[0], bb = in[1];
      if (!ta && !tb) return {gb.matmul(gy, bb, 0, 1), gb.matmul(a, gy, 1, 0)};   // gy B^T, A^T gy
      if (ta && !tb) return {gb.matmul(bb, gy, 0, 1), gb.matmul(a, gy, 0, 0)};    // B gy^T, A gy
      if (!ta && tb) return {gb.matmul(gy, bb, 0, 0), gb.matmul(gy, a, 1, 0)};    // gy B, gy^T A
      return {gb.matmul(bb, gy, 1, 1), gb.matmul(gy, a, 1, 1)};                  // B^T gy^T, gy^T A^T
    }
    case OpKind::BatchMatMul: {
      // Per leading index, the MatMul rules; an operand that was broadcast (2-D) sums its
      // per-batch gradients (SumTo), or, for a 2-D b with ta = 0, contracts L directly (MatMul).
      bool ta = n.attrs.i("ta") != 0, tb = n.attrs.i("tb") != 0;
      ValueId a = in[0], bb = in[1];
      auto bmm = [&](ValueId x, ValueId z, int64_t tx, int64_t tz) {
        return gb.op(OpKind::BatchMatMul, {x, z}, Attrs().set("ta", tx).set("tb", tz));
      };
      ValueId da = !ta ? bmm(gy, bb, 0, tb ? 0 : 1) : tb ? bmm(bb, gy, 1, 1) : bmm(bb, gy, 0, 1);
      ValueId db;
      if (sx(1).size() == 2 && sx(0).size() > 2 && !ta)  // A^T gy or gy^T A over all rows at once
        db = tb ? gb.matmul(gy, a, 1, 0) : gb.matmul(a, gy, 1, 0);
      else if (!tb)
        db = bmm(a, gy, ta ? 0 : 1, 0);
      else
        db = bmm(gy, a, 1, ta ? 1 : 0);
      return {gb.sumTo(da, sx(0)), gb.sumTo(db, sx(1))};
    }
    case OpKind::Softmax: {
      // dx = y * (gy - sum(gy * y, axis))
      Attrs keep = Attrs().set("axis", n.attrs.i("axis")).set("keepdims", int64_t{1});
      ValueId dot = gb.op(OpKind::Sum, {gb.mul(gy, y)}, keep);
      return {gb.mul(y, gb.sub(gy, dot))};
    }
    case OpKind::LogSoftmax: {
      // dx = gy - softmax(x) * sum(gy, axis), softmax(x) = exp(y)
      Attrs keep = Attrs().set("axis", n.attrs.i("axis")).set("keepdims", int64_t{1});
      ValueId total = gb.op(OpKind::Sum, {gy}, keep);
      return {gb.sub(gy, gb.mul(gb.op(OpKind::Exp, {y}), total))};
    }
    case OpKind::LayerNorm:
      return layerNormGradient(gb, in, gy, n.attrs.f("eps", 1e-5));
    case OpKind::BatchMoments: {
      // y = [mean; r], r = (var + eps)^-1/2 over the N = rows of every leading axis:
      // dmean/dx = 1/N and dr/dx = -r^3 (x - mean) / N, so
      // dx = (gy[0] - gy[1] r^3 (x - mean)) / N. The running stats get nothing.
      const Shape x = sx(0);
      auto part = [&](ValueId t, int64_t k) { return batchMoment(b, t, k, x.size(), n.loc); };
      ValueId r = part(y, 1);
      ValueId dx = gb.sub(part(gy, 0), gb.mul(gb.mul(part(gy, 1), gb.mul(r, gb.mul(r, r))), gb.sub(in[0], part(y, 0))));
      double count = 1;  // the static leading dims; the batch's is divided at run time
      bool batch = false;
      for (size_t a = 0; a + 1 < x.size(); ++a) {
        if (x[a].isStatic()) count *= static_cast<double>(x[a].n);
        else if (x[a].isBatch()) batch = true;
        else throw DiagError(n.loc, "batch_moments: gradient over the unbound dimension " + x[a].str());
      }
      dx = gb.mul(dx, gb.scalar(1 / count));
      if (batch) dx = gb.div(dx, gb.op(OpKind::BatchSize, {}));
      return {dx, -1, -1};
    }
    case OpKind::CrossEntropy: {
      // dlogits = (softmax(z) - onehot(t)) * gy, zero at ignored positions; none to the ids.
      const Shape z = sx(0);
      const auto last = static_cast<int64_t>(z.size()) - 1;
      ValueId p = gb.op(OpKind::Softmax, {in[0]}, Attrs().set("axis", last));
      ValueId onehot = gb.op(OpKind::OneHot, {in[1]}, Attrs().set("depth", Shape{z.back()}));
      ValueId keep = gb.op(OpKind::PadMask, {in[1]}, Attrs().set("pad", n.attrs.i("ignore_index", 0)));
      Shape col = sx(1);
      col.push_back(Dim(1));
      ValueId scale = gb.reshape(gb.mul(gy, keep), col);
      return {gb.mul(gb.sub(p, onehot), scale), -1};
    }
    case OpKind::Conv1d: {
      // conv1d = unfold1d(x) [N,T',K*Cin] x w.reshape([K*Cin, Cout]) + bias: the MatMul rules,
      // then fold1d (the adjoint of unfold1d) back onto x.
      const Shape x = sx(0), w = sx(1);
      Attrs win = Attrs().set("kernel", w[0].n).set("stride", n.attrs.i("stride", 1))
                      .set("padding", n.attrs.i("padding", 0));
      ValueId w2 = gb.reshape(in[1], {w[0].n * w[1].n, w[2]});
      ValueId cols = gb.op(OpKind::Unfold1d, {in[0]}, win);
      ValueId dw = gb.reshape(gb.matmul(cols, gy, 1, 0), w);
      ValueId dcols = gb.matmul(gy, w2, 0, 1);
      ValueId dx = gb.op(OpKind::Fold1d, {dcols}, Attrs(win).set("length", x[1].n));
      return {dx, dw, gb.sumTo(gy, sx(2))};
    }
    case OpKind::Unfold1d:
      return {gb.op(OpKind::Fold1d, {gy}, Attrs(n.attrs).set("length", sx(0)[1].n))};
    case OpKind::Fold1d: {
      Attrs a = n.attrs;
      a.m.erase("length");
      return {gb.op(OpKind::Unfold1d, {gy}, a)};
    }
    case OpKind::Gather: {
      // The max_norm renormalisation is treated as a non-differentiable in-place edit of the
      // table (as in PyTorch); the table receives the rows' gradients scattered back.
      ValueId dt = gb.op(OpKind::ScatterAdd, {in[1], gy}, Attrs().set("shape", sx(0)));
      return {dt, -1};
    }
    case OpKind::ScatterAdd:
      return {-1, gb.op(OpKind::Gather, {gy, in[0]}, Attrs().set("max_norm", 0.0))};
  }
  throw DiagError(n.loc, std::string(opName(n.op)) + ": no gradient rule");
}

}  // namespace recc
