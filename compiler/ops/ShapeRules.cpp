// Shape rules, one per op of Ops.def. Each returns the result dtype and symbolic shape, or
// an error text naming the offending shapes (the builder prefixes the op name and location).
#include "compiler/ops/ShapeRules.h"

#include <algorithm>

namespace recc {

namespace {

ShapeResult fail(std::string msg) {
  ShapeResult r;
  r.error = std::move(msg);
  return r;
}
ShapeResult ok(Shape s, DType t = DType::F32) {
  ShapeResult r;
  r.shape = std::move(s);
  r.dtype = t;
  return r;
}

const Shape& shapeOf(const Graph& g, ValueId v) { return g.at(v).shape; }

bool allF32(const Graph& g, const std::vector<ValueId>& ins, std::string& err) {
  for (size_t i = 0; i < ins.size(); ++i)
    if (g.at(ins[i]).dtype != DType::F32) {
      err = "operand " + std::to_string(i + 1) + " is an integer id tensor " +
            shapeStr(shapeOf(g, ins[i])) + "; ids can only be embedded, not used in arithmetic";
      return false;
    }
  return true;
}

bool validAxis(int64_t axis, size_t rank, std::string& err) {
  if (axis < 0 || axis >= static_cast<int64_t>(rank)) {
    err = "axis " + std::to_string(axis) + " out of range for rank " + std::to_string(rank);
    return false;
  }
  return true;
}

/// The product of the static dims of `s` from `from` on in `n`; sets `symbolic` if a dim is a
/// symbol. False if the product overflows int64 (a target shape written by the user).
bool staticProduct(const Shape& s, size_t from, bool& symbolic, int64_t& n) {
  n = 1;
  for (size_t i = from; i < s.size(); ++i) {
    if (!s[i].isStatic()) symbolic = true;
    else if (__builtin_mul_overflow(n, s[i].n, &n)) return false;
  }
  return true;
}

ShapeResult overflows(const std::string& what) { return fail("dimension overflows: " + what); }

}  // namespace

bool broadcastShapes(const Shape& a, const Shape& b, Shape& out) {
  size_t r = std::max(a.size(), b.size());
  out.assign(r, Dim(1));
  for (size_t i = 0; i < r; ++i) {
    const Dim* da = i < r - a.size() ? nullptr : &a[i - (r - a.size())];
    const Dim* db = i < r - b.size() ? nullptr : &b[i - (r - b.size())];
    if (!da) out[i] = *db;
    else if (!db) out[i] = *da;
    else if (*da == *db) out[i] = *da;
    else if (da->isStatic() && da->n == 1) out[i] = *db;
    else if (db->isStatic() && db->n == 1) out[i] = *da;
    else return false;
  }
  return true;
}

ShapeResult inferShape(const Graph& g, OpKind op, const std::vector<ValueId>& in,
                       const Attrs& at) {
  std::string err;
  const OpClass cls = opInfo(op).cls;
  if (op == OpKind::PadMask) {
    if (g.at(in[0]).dtype != DType::I32)
      return fail("expects integer ids, got a float tensor " + shapeStr(shapeOf(g, in[0])));
    return ok(shapeOf(g, in[0]));
  }
  if (op == OpKind::Dropout) {
    double p = at.f("p", 0.5);
    if (!(p >= 0 && p < 1)) return fail("p = " + std::to_string(p) + " must be in [0, 1)");
  }
  if (cls == OpClass::Elementwise) {
    if (!allF32(g, in, err)) return fail(err);
    if (in.size() == 1) return ok(shapeOf(g, in[0]));
    Shape out;
    if (!broadcastShapes(shapeOf(g, in[0]), shapeOf(g, in[1]), out))
      return fail("shapes " + shapeStr(shapeOf(g, in[0])) + " and " + shapeStr(shapeOf(g, in[1])) +
                  " cannot be broadcast together");
    if (op == OpKind::MaskedFill && out != shapeOf(g, in[0]))
      return fail("mask " + shapeStr(shapeOf(g, in[1])) + " does not broadcast to the shape of x " +
                  shapeStr(shapeOf(g, in[0])));
    return ok(out);
  }
  switch (op) {
    case OpKind::Input: {
      int64_t i = at.i("index", -1);
      if (i < 0 || i >= static_cast<int64_t>(g.inputs.size())) return fail("bad input index");
      const InputDecl& d = g.inputs[static_cast<size_t>(i)];
      DType t = (d.kind == InputKind::Id || d.kind == InputKind::Ids) ? DType::I32 : DType::F32;
      if (d.kind == InputKind::Ids || (d.kind == InputKind::Dense && d.length > 0))
        return ok({kB, d.length}, t);
      return ok({kB}, t);
    }
    case OpKind::Param: {
      int64_t i = at.i("index", -1);
      if (i < 0 || i >= static_cast<int64_t>(g.params.size())) return fail("bad param index");
      return ok(g.params[static_cast<size_t>(i)].shape);
    }
    case OpKind::Const:
      return ok(at.shape("shape"));
    case OpKind::BatchSize:
      return ok({});
    case OpKind::Sum:
    case OpKind::Mean:
    case OpKind::Max: {
      if (!allF32(g, in, err)) return fail(err);
      Shape s = shapeOf(g, in[0]);
      int64_t axis = at.i("axis");
      if (!validAxis(axis, s.size(), err)) return fail(err);
      if (at.i("keepdims")) s[static_cast<size_t>(axis)] = Dim(1);
      else s.erase(s.begin() + axis);
      return ok(s);
    }
    case OpKind::SumTo:
    case OpKind::BroadcastTo: {
      if (!allF32(g, in, err)) return fail(err);
      const Shape& target = at.shape("shape");
      const Shape& x = shapeOf(g, in[0]);
      const Shape& small = op == OpKind::SumTo ? target : x;
      const Shape& big = op == OpKind::SumTo ? x : target;
      Shape out;
      if (!broadcastShapes(small, big, out) || out != big)
        return fail("shape " + shapeStr(small) + " does not broadcast to " + shapeStr(big));
      return ok(target);
    }
    case OpKind::Reshape: {
      const Shape& x = shapeOf(g, in[0]);
      const Shape& t = at.shape("shape");
      bool symX = false, symT = false;
      bool batchX = !x.empty() && x[0].isBatch(), batchT = !t.empty() && t[0].isBatch();
      int64_t nx = 0, nt = 0;
      if (!staticProduct(x, batchX ? 1 : 0, symX, nx) || !staticProduct(t, batchT ? 1 : 0, symT, nt))
        return overflows("cannot reshape " + shapeStr(x) + " to " + shapeStr(t) + " (more than 2^63 elements)");
      if (batchX != batchT || symX || symT || nx != nt)
        return fail("cannot reshape " + shapeStr(x) + " to " + shapeStr(t));
      return ok(t, g.at(in[0]).dtype);
    }
    case OpKind::Concat: {
      if (in.empty()) return fail("needs at least one operand");
      if (!allF32(g, in, err)) return fail(err);
      Shape out = shapeOf(g, in[0]);
      int64_t axis = at.i("axis");
      if (!validAxis(axis, out.size(), err)) return fail(err);
      auto ax = static_cast<size_t>(axis);
      for (size_t k = 1; k < in.size(); ++k) {
        const Shape& s = shapeOf(g, in[k]);
        if (s.size() != out.size())
          return fail("shapes " + shapeStr(out) + " and " + shapeStr(s) + " differ in rank");
        for (size_t d = 0; d < s.size(); ++d)
          if (d != ax && s[d] != out[d])
            return fail("shapes " + shapeStr(shapeOf(g, in[0])) + " and " + shapeStr(s) +
                        " differ in dimension " + std::to_string(d));
        if (!s[ax].isStatic() || !out[ax].isStatic())
          return fail("cannot concatenate along symbolic dimension " + s[ax].str());
        int64_t sum = 0;
        if (__builtin_add_overflow(out[ax].n, s[ax].n, &sum))
          return overflows("concatenating along axis " + std::to_string(axis) + " gives more than 2^63");
        out[ax] = Dim(sum);
      }
      return ok(out);
    }
    case OpKind::Slice: {
      Shape s = shapeOf(g, in[0]);
      int64_t axis = at.i("axis"), b = at.i("begin"), e = at.i("end");
      if (!validAxis(axis, s.size(), err)) return fail(err);
      const Dim& d = s[static_cast<size_t>(axis)];
      if (!d.isStatic() || b < 0 || e > d.n || b >= e)
        return fail("slice [" + std::to_string(b) + ":" + std::to_string(e) + ") out of range for " +
                    shapeStr(s) + " axis " + std::to_string(axis));
      s[static_cast<size_t>(axis)] = Dim(e - b);
      return ok(s, g.at(in[0]).dtype);
    }
    case OpKind::MatMul: {
      if (!allF32(g, in, err)) return fail(err);
      const Shape& a = shapeOf(g, in[0]);
      const Shape& b = shapeOf(g, in[1]);
      bool ta = at.i("ta") != 0, tb = at.i("tb") != 0;
      if (a.size() < 2 || b.size() < 2)
        return fail("expects operands of rank >= 2, got " + shapeStr(a) + " and " + shapeStr(b));
      if (a.size() == 2 && b.size() == 2) {
        Dim m = ta ? a[1] : a[0], ka = ta ? a[0] : a[1];
        Dim kb = tb ? b[1] : b[0], n = tb ? b[0] : b[1];
        if (ka != kb)
          return fail("inner dimensions differ: " + shapeStr(a) + " x " + shapeStr(b) + " (" +
                      ka.str() + " vs " + kb.str() + ")");
        return ok({m, n});
      }
      if (!ta) {  // [L..., K] x op(b) -> [L..., N]
        if (b.size() != 2)
          return fail("with a rank-" + std::to_string(a.size()) + " first operand " + shapeStr(a) +
                      " the second must be 2-D, got " + shapeStr(b) + " (use batch_matmul)");
        Dim kb = tb ? b[1] : b[0], n = tb ? b[0] : b[1];
        if (a.back() != kb)
          return fail("inner dimensions differ: " + shapeStr(a) + " x " + shapeStr(b) + " (" +
                      a.back().str() + " vs " + kb.str() + ")");
        Shape out = a;
        out.back() = n;
        return ok(out);
      }
      // ta = 1: contract every leading dim of a[L..., M] with those of b[L..., N].
      if (tb)
        return fail("ta=1, tb=1 needs 2-D operands, got " + shapeStr(a) + " and " + shapeStr(b));
      if (a.size() != b.size() || !std::equal(a.begin(), a.end() - 1, b.begin()))
        return fail("contracted leading dimensions differ: " + shapeStr(a) + " and " + shapeStr(b));
      return ok({a.back(), b.back()});
    }
    case OpKind::BatchMatMul: {
      if (!allF32(g, in, err)) return fail(err);
      const Shape& a = shapeOf(g, in[0]);
      const Shape& b = shapeOf(g, in[1]);
      if (a.size() < 2 || b.size() < 2)
        return fail("expects operands of rank >= 2, got " + shapeStr(a) + " and " + shapeStr(b));
      Shape la(a.begin(), a.end() - 2), lb(b.begin(), b.end() - 2);
      if (!la.empty() && !lb.empty() && la != lb)
        return fail("batch dimensions differ: " + shapeStr(a) + " and " + shapeStr(b));
      bool ta = at.i("ta") != 0, tb = at.i("tb") != 0;
      size_t ra = a.size(), rb = b.size();
      Dim m = ta ? a[ra - 1] : a[ra - 2], ka = ta ? a[ra - 2] : a[ra - 1];
      Dim kb = tb ? b[rb - 1] : b[rb - 2], n = tb ? b[rb - 2] : b[rb - 1];
      if (ka != kb)
        return fail("inner dimensions differ: " + shapeStr(a) + (ta ? "^T" : "") + " x " + shapeStr(b) +
                    (tb ? "^T" : "") + " (" + ka.str() + " vs " + kb.str() + ")");
      Shape out = la.empty() ? lb : la;
      out.push_back(m);
      out.push_back(n);
      return ok(out);
    }
    case OpKind::Transpose: {
      const Shape& x = shapeOf(g, in[0]);
      const Shape& perm = at.shape("perm");
      std::vector<bool> seen(x.size(), false);
      bool valid = perm.size() == x.size();
      for (size_t j = 0; valid && j < perm.size(); ++j) {
        valid = perm[j].isStatic() && perm[j].n >= 0 && perm[j].n < static_cast<int64_t>(x.size()) &&
                !seen[static_cast<size_t>(perm[j].n)];
        if (valid) seen[static_cast<size_t>(perm[j].n)] = true;
      }
      if (!valid) return fail("perm " + shapeStr(perm) + " is not a permutation of the axes of " + shapeStr(x));
      Shape out;
      for (const Dim& d : perm) out.push_back(x[static_cast<size_t>(d.n)]);
      return ok(out, g.at(in[0]).dtype);
    }
    case OpKind::OneHot: {
      const Shape& depth = at.shape("depth");
      if (g.at(in[0]).dtype != DType::I32)
        return fail("expects integer ids, got a float tensor " + shapeStr(shapeOf(g, in[0])));
      if (depth.size() != 1 || depth[0].isBatch())
        return fail("attr depth must be one static or vocabulary dimension, got " + shapeStr(depth));
      Shape out = shapeOf(g, in[0]);
      out.push_back(depth[0]);
      return ok(out);
    }
    case OpKind::ShardSum:
      if (!allF32(g, in, err)) return fail(err);
      return ok(shapeOf(g, in[0]));
    case OpKind::Softmax:
    case OpKind::LogSoftmax: {
      if (!allF32(g, in, err)) return fail(err);
      const Shape& x = shapeOf(g, in[0]);
      if (!validAxis(at.i("axis"), x.size(), err)) return fail(err);
      return ok(x);
    }
    case OpKind::LayerNorm: {
      if (!allF32(g, in, err)) return fail(err);
      const Shape& x = shapeOf(g, in[0]);
      if (x.empty()) return fail("expects x of shape [..., D], got " + shapeStr(x));
      static const char* names[] = {"x", "gamma", "beta"};
      for (size_t k = 1; k < in.size(); ++k)
        if (shapeOf(g, in[k]) != Shape{x.back()})
          return fail(std::string(names[k]) + " " + shapeStr(shapeOf(g, in[k])) + " does not match the last dimension of x " +
                      shapeStr(x) + " (expected " + shapeStr({x.back()}) + ")");
      if (!(at.f("eps", 1e-5) > 0)) return fail("eps must be positive");
      return ok(x);
    }
    case OpKind::BatchMoments: {
      if (!allF32(g, in, err)) return fail(err);
      const Shape& x = shapeOf(g, in[0]);
      if (x.size() != 2 && x.size() != 3) return fail("expects x of shape [B,D] or [B,T,D], got " + shapeStr(x));
      static const char* names[] = {"x", "running_mean", "running_var"};
      for (size_t k = 1; k < in.size(); ++k) {
        if (shapeOf(g, in[k]) != Shape{x.back()})
          return fail(std::string(names[k]) + " " + shapeStr(shapeOf(g, in[k])) + " does not match the last dimension of x " +
                      shapeStr(x) + " (expected " + shapeStr({x.back()}) + ")");
        if (g.at(in[k]).op != OpKind::Param)
          return fail(std::string(names[k]) + " must be a parameter (it is updated in place)");
      }
      if (!(at.f("eps", 1e-5) > 0)) return fail("eps must be positive");
      return ok({Dim(2), x.back()});
    }
    case OpKind::CrossEntropy: {
      const Shape& z = shapeOf(g, in[0]);
      const Shape& t = shapeOf(g, in[1]);
      if (g.at(in[0]).dtype != DType::F32 || z.size() < 2)
        return fail("logits must be f32 [B, V] or [B, T, V], got " + shapeStr(z));
      if (g.at(in[1]).dtype != DType::I32)
        return fail("targets must be integer ids, got a float tensor " + shapeStr(t));
      Shape want(z.begin(), z.end() - 1);
      if (t != want)
        return fail("targets " + shapeStr(t) + " do not match logits " + shapeStr(z) + " (expected ids " +
                    shapeStr(want) + ")");
      return ok(want);
    }
    case OpKind::PositionalEncoding: {
      int64_t len = at.i("length"), dim = at.i("dim");
      if (len <= 0 || dim <= 0)
        return fail("length and dim must be positive, got " + std::to_string(len) + " and " + std::to_string(dim));
      return ok({len, dim});
    }
    case OpKind::Conv1d:
    case OpKind::Unfold1d:
    case OpKind::Fold1d: {
      if (!allF32(g, in, err)) return fail(err);
      const Shape& x = shapeOf(g, in[0]);
      int64_t stride = at.i("stride", 1), pad = at.i("padding", 0);
      if (x.size() != 3 || !x[1].isStatic() || !x[2].isStatic())
        return fail("expects x of shape [N, T, C] with static T and C, got " + shapeStr(x));
      if (stride < 1 || pad < 0)
        return fail("stride must be >= 1 and padding >= 0, got " + std::to_string(stride) + " and " +
                    std::to_string(pad));
      int64_t k = at.i("kernel"), cin = x[2].n, len = x[1].n, cout = 0;
      if (op == OpKind::Conv1d) {
        const Shape& w = shapeOf(g, in[1]);
        if (w.size() != 3 || w[1] != x[2] || !w[0].isStatic() || !w[2].isStatic())
          return fail("weights " + shapeStr(w) + " do not match x " + shapeStr(x) + " (expected [K, " +
                      x[2].str() + ", C_out])");
        if (shapeOf(g, in[2]) != Shape{w[2]})
          return fail("bias " + shapeStr(shapeOf(g, in[2])) + " does not match weights " + shapeStr(w) +
                      " (expected " + shapeStr({w[2]}) + ")");
        k = w[0].n;
        cout = w[2].n;
      }
      if (op == OpKind::Fold1d) {  // x = cols [N, T', K*C] -> [N, length, C]
        if (k < 1 || x[2].n % k != 0)
          return fail("columns " + shapeStr(x) + " are not a multiple of kernel " + std::to_string(k));
        cin = x[2].n / k;
        len = at.i("length");
      }
      if (k < 1) return fail("kernel must be >= 1, got " + std::to_string(k));
      int64_t padded = 0, cols = 0;  // len + 2 * pad, k * cin: user-given values may be huge
      if (__builtin_mul_overflow(pad, 2, &padded) || __builtin_add_overflow(padded, len, &padded) ||
          __builtin_mul_overflow(k, cin, &cols))
        return overflows("length " + std::to_string(len) + ", padding " + std::to_string(pad) + ", kernel " +
                         std::to_string(k) + " and " + std::to_string(cin) + " channels exceed 2^63");
      int64_t outLen = (padded - k) / stride + 1;
      if (padded < k)
        return fail("kernel " + std::to_string(k) + " is longer than the padded sequence (length " +
                    std::to_string(len) + ", padding " + std::to_string(pad) + ")");
      if (op == OpKind::Conv1d) return ok({x[0], outLen, cout});
      if (op == OpKind::Unfold1d) return ok({x[0], outLen, cols});
      if (x[1].n != outLen)
        return fail("columns " + shapeStr(x) + " do not match length " + std::to_string(len) + " (expected " +
                    std::to_string(outLen) + " windows)");
      return ok({x[0], len, cin});
    }
    case OpKind::Gather: {
      const Shape& t = shapeOf(g, in[0]);
      const Shape& ids = shapeOf(g, in[1]);
      if (g.at(in[0]).dtype != DType::F32 || t.size() != 2)
        return fail("table must be a 2-D f32 tensor, got " + shapeStr(t));
      if (g.at(in[1]).dtype != DType::I32)
        return fail("indices must be integer ids, got a float tensor " + shapeStr(ids));
      Shape out = ids;
      out.push_back(t[1]);
      return ok(out);
    }
    case OpKind::ScatterAdd: {
      const Shape& ids = shapeOf(g, in[0]);
      const Shape& gr = shapeOf(g, in[1]);
      const Shape& t = at.shape("shape");
      if (g.at(in[0]).dtype != DType::I32) return fail("indices must be integer ids");
      if (t.size() != 2 || gr.size() != ids.size() + 1 || gr.back() != t[1])
        return fail("gradient " + shapeStr(gr) + " does not match ids " + shapeStr(ids) +
                    " and table " + shapeStr(t));
      for (size_t d = 0; d < ids.size(); ++d)
        if (ids[d] != gr[d]) return fail("gradient " + shapeStr(gr) + " does not match ids " + shapeStr(ids));
      return ok(t);
    }
    case OpKind::SparseUpdate: {
      const Shape& t = shapeOf(g, in[0]);
      if (t.size() != 2) return fail("parameter " + shapeStr(t) + " is not a [rows, dim] table");
      if (in.size() < 3 || in.size() % 2 == 0) return fail("expects the table, then (ids, gradient) pairs");
      for (size_t k = 1; k + 1 < in.size(); k += 2) {
        const Shape& ids = shapeOf(g, in[k]);
        const Shape& gr = shapeOf(g, in[k + 1]);
        if (g.at(in[k]).dtype != DType::I32) return fail("indices must be integer ids");
        bool match = gr.size() == ids.size() + 1 && gr.back() == t[1];
        for (size_t d = 0; match && d < ids.size(); ++d) match = ids[d] == gr[d];
        if (!match)
          return fail("gradient " + shapeStr(gr) + " does not match ids " + shapeStr(ids) + " and table " + shapeStr(t));
      }
      return ok({});
    }
    case OpKind::Update: {
      if (shapeOf(g, in[0]) != shapeOf(g, in[1]))
        return fail("gradient " + shapeStr(shapeOf(g, in[1])) + " does not match parameter " +
                    shapeStr(shapeOf(g, in[0])));
      return ok({});
    }
    default:
      break;
  }
  return fail("no shape rule");
}

}  // namespace recc
