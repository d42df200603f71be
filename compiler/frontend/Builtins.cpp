// Builtin functions: each lowers to ops of compiler/ops/Ops.def (shape errors come from the
// op's shape rule, reported at the call) or computes a compile-time value.
#include "compiler/frontend/Builtins.h"

#include <algorithm>
#include <cmath>

#include "compiler/frontend/Builder.h"

namespace recc {

namespace {

using V = Value;

Value unary(Builder& b, CallSite& c, OpKind op) {
  Value x = b.tensorArg(c, 0);
  return V::tensor(b.add(op, {x.t}, {}, c.loc));
}

/// sum/mean(x, axis, keepdims = false)
Value reduce(Builder& b, CallSite& c, OpKind op) {
  Value x = b.tensorArg(c, 0);
  int64_t axis = b.axisArg(c, 1, b.shape(x).size());
  Attrs a;
  a.set("axis", axis).set("keepdims", static_cast<int64_t>(b.boolArg(c, 2)));
  return V::tensor(b.add(op, {x.t}, a, c.loc));
}

std::vector<Value> tensorList(Builder& b, CallSite& c, size_t i) {
  const std::vector<Value>& xs = b.listArg(c, i);
  if (xs.empty()) throw DiagError(c.argLocs[i], c.name + ": expected a non-empty list of tensors");
  for (const Value& x : xs) {
    if (x.kind != Value::Kind::Tensor)
      throw DiagError(c.argLocs[i], c.name + ": expected a list of tensors, found " + describe(x));
    b.requireFloat(x, c.argLocs[i], c.name);
  }
  return xs;
}

/// concat(xs, axis = -1)
Value concat(Builder& b, CallSite& c) {
  std::vector<Value> xs = tensorList(b, c, 0);
  int64_t axis = b.axisArg(c, 1, b.shape(xs[0]).size());
  std::vector<ValueId> ids;
  for (const Value& x : xs) ids.push_back(x.t);
  return V::tensor(b.add(OpKind::Concat, ids, Attrs().set("axis", axis), c.loc));
}

/// stack(xs, axis = 1): insert a dimension of 1 at `axis` in each, then concatenate along it.
Value stack(Builder& b, CallSite& c) {
  std::vector<Value> xs = tensorList(b, c, 0);
  int64_t axis = b.axisArg(c, 1, b.shape(xs[0]).size() + 1);
  std::vector<ValueId> ids;
  for (const Value& x : xs) {
    Shape s = b.shape(x);
    s.insert(s.begin() + std::min<int64_t>(axis, static_cast<int64_t>(s.size())), Dim(1));
    ids.push_back(b.reshape(x.t, s, c.loc));
  }
  return V::tensor(b.add(OpKind::Concat, ids, Attrs().set("axis", axis), c.loc));
}

/// flatten(x): keeps the leading dimension, multiplies out the rest ([B,a,b] -> [B,a*b]).
Value flatten(Builder& b, CallSite& c) {
  Value x = b.tensorArg(c, 0, false);
  const Shape& s = b.shape(x);
  if (s.size() <= 2) return x;
  int64_t n = 1;
  for (size_t d = 1; d < s.size(); ++d) {
    if (!s[d].isStatic()) throw DiagError(c.loc, "flatten: cannot flatten symbolic dimension " + s[d].str());
    n *= s[d].n;
  }
  return V::tensor(b.reshape(x.t, {s[0], n}, c.loc), x.vocab);
}

/// reshape(x, [dims]): dims are ints or B; one -1 is inferred from the element count.
Value reshape(Builder& b, CallSite& c) {
  Value x = b.tensorArg(c, 0, false);
  Shape t;
  int infer = -1;
  for (const Value& d : b.listArg(c, 1)) {
    if (d.kind == Value::Kind::BatchDim) {
      t.push_back(kB);
    } else if (d.kind == Value::Kind::Int && (d.i > 0 || (d.i == -1 && infer < 0))) {
      if (d.i == -1) infer = static_cast<int>(t.size());
      t.push_back(Dim(d.i));
    } else {
      throw DiagError(c.argLocs[1], "reshape: dimensions must be positive ints, B, or a single -1; got " +
                                        toLiteral(d));
    }
  }
  if (infer >= 0) {
    int64_t total = 1, known = 1;
    for (const Dim& d : b.shape(x))
      if (d.isStatic()) total *= d.n;
    for (const Dim& d : t)
      if (d.isStatic() && d.n != -1) known *= d.n;
    t[static_cast<size_t>(infer)] = Dim(known ? total / known : 0);
  }
  return V::tensor(b.reshape(x.t, t, c.loc), x.vocab);
}

/// squeeze(x, axis): drops a dimension of size 1.
Value squeeze(Builder& b, CallSite& c) {
  Value x = b.tensorArg(c, 0, false);
  Shape s = b.shape(x);
  int64_t axis = b.axisArg(c, 1, s.size());
  const Dim& d = s[static_cast<size_t>(axis)];
  if (!(d.isStatic() && d.n == 1))
    throw DiagError(c.loc, "squeeze: dimension " + std::to_string(axis) + " of " + shapeStr(s) + " is " + d.str() +
                               ", not 1");
  s.erase(s.begin() + axis);
  return V::tensor(b.reshape(x.t, s, c.loc), x.vocab);
}

/// unsqueeze(x, axis): inserts a dimension of size 1.
Value unsqueeze(Builder& b, CallSite& c) {
  Value x = b.tensorArg(c, 0, false);
  Shape s = b.shape(x);
  int64_t axis = b.axisArg(c, 1, s.size() + 1);
  s.insert(s.begin() + axis, Dim(1));
  return V::tensor(b.reshape(x.t, s, c.loc), x.vocab);
}

Value matmul(Builder& b, CallSite& c) {
  Value x = b.tensorArg(c, 0), y = b.tensorArg(c, 1);
  Attrs a;
  a.set("ta", int64_t{0}).set("tb", int64_t{0});
  return V::tensor(b.add(OpKind::MatMul, {x.t, y.t}, a, c.loc));
}

/// slice(x, axis, begin, end): static range along one axis; negative bounds count from the end.
Value slice(Builder& b, CallSite& c) {
  Value x = b.tensorArg(c, 0, false);
  const Shape& s = b.shape(x);
  int64_t axis = b.axisArg(c, 1, s.size());
  int64_t lo = b.intArg(c, 2), hi = b.intArg(c, 3);
  const Dim& d = s[static_cast<size_t>(axis)];
  if (d.isStatic()) {
    if (lo < 0) lo += d.n;
    if (hi < 0) hi += d.n;
  }
  Attrs a;
  a.set("axis", axis).set("begin", lo).set("end", hi);
  return V::tensor(b.add(OpKind::Slice, {x.t}, a, c.loc), x.vocab);
}

/// bce_with_logits(logit, label): the batch mean of the elementwise loss (a scalar).
Value bce(Builder& b, CallSite& c) {
  Value z = b.tensorArg(c, 0), y = b.tensorArg(c, 1);
  if (b.shape(z) != b.shape(y))
    throw DiagError(c.loc, "bce_with_logits: logit " + shapeStr(b.shape(z)) + " and label " + shapeStr(b.shape(y)) +
                               " must have the same shape");
  ValueId l = b.add(OpKind::BceWithLogits, {z.t, y.t}, {}, c.loc);
  while (!b.graph().at(l).shape.empty())  // mean of equal-sized means = the overall mean
    l = b.add(OpKind::Mean, {l}, Attrs().set("axis", int64_t{0}).set("keepdims", int64_t{0}), c.loc);
  return V::tensor(l);
}

/// dense(x, units, bias = true): x[B,in] @ w[in,units] + b[units], PyTorch nn.Linear init.
Value dense(Builder& b, CallSite& c) {
  Value x = b.tensorArg(c, 0);
  const Shape& s = b.shape(x);
  int64_t units = b.intArg(c, 1);
  if (units <= 0) throw DiagError(c.argLocs[1], "dense: units must be positive, got " + std::to_string(units));
  if (s.size() != 2 || !s[1].isStatic())
    throw DiagError(c.loc, "dense: expects a 2-D input [B, features], got " + shapeStr(s) +
                               (s.size() > 2 ? "; flatten it first" : ""));
  int64_t in = s[1].n;
  double bound = 1.0 / std::sqrt(static_cast<double>(in));
  std::string scope = b.layerScope("dense", c.ownScope);
  ValueId w = b.param(scope + ".w", {in, units}, "uniform", bound, false, c.loc);
  Attrs a;
  a.set("ta", int64_t{0}).set("tb", int64_t{0});
  ValueId y = b.add(OpKind::MatMul, {x.t, w}, a, c.loc);
  if (b.boolArg(c, 2)) {
    ValueId bias = b.param(scope + ".b", {units}, "uniform", bound, false, c.loc);
    y = b.add(OpKind::Add, {y, bias}, {}, c.loc);
  }
  return V::tensor(y);
}

/// embedding(dim, std = 0.05, max_norm = 0): a layer value; tables are created when it is called.
Value embedding(Builder& b, CallSite& c) {
  auto L = std::make_shared<EmbeddingLayer>();
  L->dim = b.intArg(c, 0);
  if (L->dim <= 0) throw DiagError(c.argLocs[0], "embedding: dim must be positive, got " + std::to_string(L->dim));
  L->stddev = b.floatArg(c, 1);
  L->maxNorm = b.floatArg(c, 2);
  if (L->stddev < 0 || L->maxNorm < 0) throw DiagError(c.loc, "embedding: std and max_norm must not be negative");
  L->scope = b.layerScope("embedding", c.ownScope);
  Value v;
  v.kind = Value::Kind::Layer;
  v.layer = L;
  return v;
}

/// param(shape, init = "zeros", scale = 0): a free parameter (e.g. a global bias).
Value param(Builder& b, CallSite& c) {
  Shape s;
  for (const Value& d : b.listArg(c, 0)) {
    if (d.kind != Value::Kind::Int || d.i <= 0)
      throw DiagError(c.argLocs[0], "param: shape dims must be positive ints, got " + toLiteral(d));
    s.push_back(Dim(d.i));
  }
  if (c.args[1].kind != Value::Kind::Str) throw DiagError(c.argLocs[1], "param: init must be a string");
  const std::string& init = c.args[1].s;
  if (init != "zeros" && init != "ones" && init != "normal" && init != "uniform")
    throw DiagError(c.argLocs[1], "param: unknown init \"" + init + "\" (zeros, ones, normal, uniform)");
  return V::tensor(b.param(b.layerScope("param", c.ownScope), s, init, b.floatArg(c, 2), false, c.loc));
}

Value range(Builder& b, CallSite& c) {
  int64_t n = b.intArg(c, 0);
  if (n > 100000) throw DiagError(c.argLocs[0], "range: " + std::to_string(n) + " is too long (at most 100000)");
  std::vector<Value> out;
  for (int64_t k = 0; k < n; ++k) out.push_back(V::integer(k));
  return V::makeList(std::move(out));
}

Value len(Builder& b, CallSite& c) { return V::integer(static_cast<int64_t>(b.listArg(c, 0).size())); }

std::vector<BuiltinInfo> makeTable() {
  auto fn1 = [](const char* name, Value (*f)(Builder&, CallSite&)) { return BuiltinInfo{name, {"x"}, 1, {}, f}; };
  std::vector<BuiltinInfo> t = {
      fn1("sigmoid", [](Builder& b, CallSite& c) { return unary(b, c, OpKind::Sigmoid); }),
      fn1("relu", [](Builder& b, CallSite& c) { return unary(b, c, OpKind::Relu); }),
      fn1("tanh", [](Builder& b, CallSite& c) { return unary(b, c, OpKind::Tanh); }),
      fn1("exp", [](Builder& b, CallSite& c) { return unary(b, c, OpKind::Exp); }),
      fn1("log", [](Builder& b, CallSite& c) { return unary(b, c, OpKind::Log); }),
      fn1("sqrt", [](Builder& b, CallSite& c) { return unary(b, c, OpKind::Sqrt); }),
      fn1("flatten", flatten),
      {"sum", {"x", "axis", "keepdims"}, 2, {V::boolean(false)},
       [](Builder& b, CallSite& c) { return reduce(b, c, OpKind::Sum); }},
      {"mean", {"x", "axis", "keepdims"}, 2, {V::boolean(false)},
       [](Builder& b, CallSite& c) { return reduce(b, c, OpKind::Mean); }},
      {"concat", {"xs", "axis"}, 1, {V::integer(-1)}, concat},
      {"stack", {"xs", "axis"}, 1, {V::integer(1)}, stack},
      {"reshape", {"x", "shape"}, 2, {}, reshape},
      {"squeeze", {"x", "axis"}, 2, {}, squeeze},
      {"unsqueeze", {"x", "axis"}, 2, {}, unsqueeze},
      {"matmul", {"a", "b"}, 2, {}, matmul},
      {"slice", {"x", "axis", "begin", "end"}, 4, {}, slice},
      {"bce_with_logits", {"logit", "label"}, 2, {}, bce},
      {"dense", {"x", "units", "bias"}, 2, {V::boolean(true)}, dense},
      {"embedding", {"dim", "std", "max_norm"}, 1, {V::real(0.05), V::real(0.0)}, embedding},
      {"param", {"shape", "init", "scale"}, 1, {V::string("zeros"), V::real(0.0)}, param},
      {"range", {"n"}, 1, {}, range},
      {"len", {"xs"}, 1, {}, len},
  };
  return t;
}

}  // namespace

const BuiltinInfo* findBuiltin(const std::string& name) {
  static const std::vector<BuiltinInfo> table = makeTable();
  for (const BuiltinInfo& b : table)
    if (b.name == name) return &b;
  return nullptr;
}

std::vector<int> bindArgs(const std::string& fname, const std::vector<std::string>& params, size_t required,
                          const std::vector<ast::Arg>& args, const Loc& callLoc) {
  std::vector<int> slot(params.size(), -1);
  size_t positional = 0;
  bool sawKeyword = false;
  for (size_t i = 0; i < args.size(); ++i) {
    const ast::Arg& a = args[i];
    size_t p = 0;
    if (a.name.empty()) {
      if (sawKeyword) throw DiagError(a.loc, "positional argument after keyword arguments in call to '" + fname + "'");
      if (positional >= params.size())
        throw DiagError(a.loc, "too many arguments to '" + fname + "': it takes " + std::to_string(params.size()) +
                                   ", got " + std::to_string(args.size()));
      p = positional++;
    } else {
      sawKeyword = true;
      auto it = std::find(params.begin(), params.end(), a.name);
      if (it == params.end()) throw DiagError(a.loc, "'" + fname + "' has no parameter named '" + a.name + "'");
      p = static_cast<size_t>(it - params.begin());
      if (slot[p] >= 0) throw DiagError(a.loc, "argument '" + a.name + "' given twice in call to '" + fname + "'");
    }
    slot[p] = static_cast<int>(i);
  }
  for (size_t p = 0; p < required; ++p)
    if (slot[p] < 0) throw DiagError(callLoc, "missing argument '" + params[p] + "' in call to '" + fname + "'");
  return slot;
}

}  // namespace recc
