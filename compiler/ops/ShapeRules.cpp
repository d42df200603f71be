// Shape rules, one per op of Ops.def. Each returns the result dtype and symbolic shape, or
// an error text naming the offending shapes (the builder prefixes the op name and location).
#include "compiler/ops/ShapeRules.h"

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

int64_t staticProduct(const Shape& s, size_t from, bool& symbolic) {
  int64_t n = 1;
  for (size_t i = from; i < s.size(); ++i) {
    if (!s[i].isStatic()) symbolic = true;
    else n *= s[i].n;
  }
  return n;
}

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
  if (cls == OpClass::Elementwise) {
    if (!allF32(g, in, err)) return fail(err);
    if (in.size() == 1) return ok(shapeOf(g, in[0]));
    Shape out;
    if (!broadcastShapes(shapeOf(g, in[0]), shapeOf(g, in[1]), out))
      return fail("shapes " + shapeStr(shapeOf(g, in[0])) + " and " + shapeStr(shapeOf(g, in[1])) +
                  " cannot be broadcast together");
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
    case OpKind::Mean: {
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
      int64_t nx = staticProduct(x, batchX ? 1 : 0, symX);
      int64_t nt = staticProduct(t, batchT ? 1 : 0, symT);
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
        out[ax] = Dim(out[ax].n + s[ax].n);
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
      if (a.size() != 2 || b.size() != 2)
        return fail("expects 2-D operands, got " + shapeStr(a) + " and " + shapeStr(b));
      bool ta = at.i("ta") != 0, tb = at.i("tb") != 0;
      Dim m = ta ? a[1] : a[0], ka = ta ? a[0] : a[1];
      Dim kb = tb ? b[1] : b[0], n = tb ? b[0] : b[1];
      if (ka != kb)
        return fail("inner dimensions differ: " + shapeStr(a) + " x " + shapeStr(b) + " (" +
                    ka.str() + " vs " + kb.str() + ")");
      return ok({m, n});
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
