// Builtin functions: each lowers to ops of compiler/ops/Ops.def (shape errors come from the
// op's shape rule, reported at the call) or computes a compile-time value.
#include "compiler/frontend/Builtins.h"

#include <algorithm>
#include <cmath>

#include "compiler/frontend/Builder.h"
#include "compiler/ops/Composites.h"

namespace recc {

namespace {

using V = Value;

Value unary(Builder& b, CallSite& c, OpKind op) {
  if (c.args[0].isNumber() && (op == OpKind::Sqrt || op == OpKind::Exp || op == OpKind::Log)) {
    // Build-time arithmetic on numbers (e.g. 1 / sqrt(size(q, -1))).
    double v = c.args[0].number();
    if ((op == OpKind::Sqrt && v < 0) || (op == OpKind::Log && v <= 0))
      throw DiagError(c.argLocs[0], c.name + ": " + formatFloat(v) + " is outside its domain");
    return V::real(op == OpKind::Sqrt ? std::sqrt(v) : op == OpKind::Exp ? std::exp(v) : std::log(v));
  }
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
    } else if (d.isNumber() && d.number() == std::floor(d.number()) && std::fabs(d.number()) < 9.0e15 &&
               (d.number() > 0 || (d.number() == -1 && infer < 0))) {
      // Whole floats are accepted (dim / heads).
      auto n = static_cast<int64_t>(d.number());
      if (n == -1) infer = static_cast<int>(t.size());
      t.push_back(Dim(n));
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
      if (d.isStatic() && d.n != -1 && __builtin_mul_overflow(known, d.n, &known))
        throw DiagError(c.argLocs[1], "reshape: dimension overflows: the given dimensions multiply to more than 2^63");
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

/// matmul(a, b, ta = false, tb = false): 2-D product, or [..., K] x [K, N] (rank > 2 on the left).
Value matmul(Builder& b, CallSite& c) {
  Value x = b.tensorArg(c, 0), y = b.tensorArg(c, 1);
  Attrs a;
  a.set("ta", static_cast<int64_t>(b.boolArg(c, 2))).set("tb", static_cast<int64_t>(b.boolArg(c, 3)));
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

/// bce_with_logits(logit, label, reduce = true): the mean of the elementwise loss (a scalar), or
/// the elementwise loss itself with reduce = false.
Value bce(Builder& b, CallSite& c) {
  Value z = b.tensorArg(c, 0), y = b.tensorArg(c, 1);
  if (b.shape(z) != b.shape(y))
    throw DiagError(c.loc, "bce_with_logits: logit " + shapeStr(b.shape(z)) + " and label " + shapeStr(b.shape(y)) +
                               " must have the same shape");
  ValueId l = b.add(OpKind::BceWithLogits, {z.t, y.t}, {}, c.loc);
  if (!b.boolArg(c, 2)) return V::tensor(l);  // per element (e.g. masked with masked_loss)
  while (!b.graph().at(l).shape.empty())  // mean of equal-sized means = the overall mean
    l = b.add(OpKind::Mean, {l}, Attrs().set("axis", int64_t{0}).set("keepdims", int64_t{0}), c.loc);
  return V::tensor(l);
}

/// dense(x, units, bias = true): x[B,...,in] @ w[in,units] + b[units], PyTorch nn.Linear init
/// (on a sequence [B,T,in] the same weights apply at every position).
Value dense(Builder& b, CallSite& c) {
  Value x = b.tensorArg(c, 0);
  const Shape& s = b.shape(x);
  int64_t units = b.intArg(c, 1);
  if (units <= 0) throw DiagError(c.argLocs[1], "dense: units must be positive, got " + std::to_string(units));
  if (s.size() < 2 || !s.back().isStatic())
    throw DiagError(c.loc, "dense: expects an input [B, ..., features] with static features, got " + shapeStr(s));
  int64_t in = s.back().n;
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

/// embedding(dim, std = 0.05, max_norm = 0, sparse = false): a layer value; tables are created
/// when it is called. sparse: row-sparse (lazy) optimizer steps for its tables.
Value embedding(Builder& b, CallSite& c) {
  auto L = std::make_shared<EmbeddingLayer>();
  L->dim = b.intArg(c, 0);
  if (L->dim <= 0) throw DiagError(c.argLocs[0], "embedding: dim must be positive, got " + std::to_string(L->dim));
  L->stddev = b.floatArg(c, 1);
  L->maxNorm = b.floatArg(c, 2);
  L->sparse = b.boolArg(c, 3);
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

/// zeros(shape) / ones(shape): a constant tensor; dims are positive ints or B (initial states).
Value filled(Builder& b, CallSite& c, double value) {
  Shape s;
  for (const Value& d : b.listArg(c, 0)) {
    if (d.kind == Value::Kind::BatchDim && s.empty()) s.push_back(kB);
    else if (d.kind == Value::Kind::Int && d.i > 0) s.push_back(Dim(d.i));
    else throw DiagError(c.argLocs[0], c.name + ": dims must be positive ints (B may come first), got " + toLiteral(d));
  }
  return V::tensor(b.constantOf(value, std::move(s), c.loc));
}

/// size(x, axis): a static dimension of a tensor as a build-time int.
Value size(Builder& b, CallSite& c) {
  Value x = b.tensorArg(c, 0, false);
  const Shape& s = b.shape(x);
  int64_t axis = b.axisArg(c, 1, s.size());
  const Dim& d = s[static_cast<size_t>(axis)];
  if (!d.isStatic())
    throw DiagError(c.loc, "size: dimension " + std::to_string(axis) + " of " + shapeStr(s) + " is " + d.str() +
                               ", known only at run time");
  return V::integer(d.n);
}

/// take(x, axis, index): one position along an axis, the axis dropped (negative counts from the end).
Value take(Builder& b, CallSite& c) {
  Value x = b.tensorArg(c, 0, false);
  Shape s = b.shape(x);
  int64_t axis = b.axisArg(c, 1, s.size());
  const Dim& d = s[static_cast<size_t>(axis)];
  int64_t i = b.intArg(c, 2);
  if (!d.isStatic()) throw DiagError(c.loc, "take: axis " + std::to_string(axis) + " of " + shapeStr(s) + " is symbolic");
  if (i < -d.n || i >= d.n)
    throw DiagError(c.argLocs[2], "take: index " + std::to_string(i) + " out of range for " + shapeStr(s) + " axis " +
                                      std::to_string(axis));
  if (i < 0) i += d.n;
  ValueId y = b.add(OpKind::Slice, {x.t}, Attrs().set("axis", axis).set("begin", i).set("end", i + 1), c.loc);
  s.erase(s.begin() + axis);
  return V::tensor(b.reshape(y, s, c.loc), x.vocab);
}

// ---- sequence / attention ops ----

/// leaky_relu(x, alpha = 0.01)
Value leakyRelu(Builder& b, CallSite& c) {
  Value x = b.tensorArg(c, 0);
  return V::tensor(b.add(OpKind::LeakyRelu, {x.t}, Attrs().set("alpha", b.floatArg(c, 1)), c.loc));
}

/// prelu(x, shared = true, init = 0.25): x > 0 ? x : alpha * x with a learned alpha, one for all
/// channels (PyTorch's nn.PReLU()) or one per channel of the last axis.
Value prelu(Builder& b, CallSite& c) {
  Value x = b.tensorArg(c, 0);
  const Shape& s = b.shape(x);
  Shape as;
  if (!b.boolArg(c, 1)) {
    if (s.empty() || !s.back().isStatic()) throw DiagError(c.loc, "prelu: per-channel alpha needs a static last dimension, got " + shapeStr(s));
    as.push_back(s.back());
  }
  std::string scope = b.layerScope("prelu", c.ownScope);
  // The parameter starts at 1 and is scaled by `init` (the initialisers are zeros, ones, normal
  // and uniform): alpha = init * p starts at init and learns through p.
  double init = b.floatArg(c, 2);
  ValueId alpha = b.param(scope + ".alpha", as, init == 0 ? "zeros" : "ones", 0, false, c.loc);
  if (init != 0 && init != 1) alpha = b.add(OpKind::Mul, {alpha, b.constant(init, c.loc)}, {}, c.loc);
  return V::tensor(b.add(OpKind::Prelu, {x.t, alpha}, {}, c.loc));
}

/// pad_mask(ids, pad = 0): f32 1 where the id is not padding, else 0.
Value padMask(Builder& b, CallSite& c) {
  const Value& x = c.args[0];
  if (x.kind != Value::Kind::Tensor || b.graph().at(x.t).dtype != DType::I32)
    throw DiagError(c.argLocs[0], "pad_mask: expects categorical ids (an id<...> or ids<...> input), got " +
                                      (x.kind == Value::Kind::Tensor ? "a float tensor " + shapeStr(b.shape(x)) : describe(x)));
  return V::tensor(b.add(OpKind::PadMask, {x.t}, Attrs().set("pad", b.intArg(c, 1)), c.loc));
}

/// masked_fill(x, mask, value = 0): x where mask != 0, else value (mask broadcasts to x).
Value maskedFill(Builder& b, CallSite& c) {
  Value x = b.tensorArg(c, 0), m = b.tensorArg(c, 1);
  return V::tensor(b.add(OpKind::MaskedFill, {x.t, m.t}, Attrs().set("value", b.floatArg(c, 2)), c.loc));
}

/// dropout(x, p = 0.5, seed = -1): training mode only (identity when serving). Each call without
/// a seed gets its own (0, 1, 2, ... in build order), so two dropouts never share a mask.
Value dropout(Builder& b, CallSite& c) {
  Value x = b.tensorArg(c, 0);
  double p = b.floatArg(c, 1);
  if (!(p >= 0 && p < 1)) throw DiagError(c.argLocs[1], "dropout: p must be in [0, 1), got " + formatFloat(p));
  int64_t seed = b.intArg(c, 2);
  if (p == 0) return x;  // no node: a model with dropout off has exactly the graph without it
  if (seed < 0) seed = b.nextSeed();
  return V::tensor(b.add(OpKind::Dropout, {x.t}, Attrs().set("p", p).set("seed", seed), c.loc));
}

/// softmax / log_softmax(x, axis = -1)
Value softmax(Builder& b, CallSite& c, OpKind op) {
  Value x = b.tensorArg(c, 0);
  int64_t axis = b.axisArg(c, 1, b.shape(x).size());
  return V::tensor(b.add(op, {x.t}, Attrs().set("axis", axis), c.loc));
}

/// transpose(x, perm): out.shape[j] = x.shape[perm[j]]; negative axes count from the end.
Value transpose(Builder& b, CallSite& c) {
  Value x = b.tensorArg(c, 0, false);
  auto r = static_cast<int64_t>(b.shape(x).size());
  Shape perm;
  for (const Value& d : b.listArg(c, 1)) {
    if (d.kind != Value::Kind::Int || d.i < -r || d.i >= r)
      throw DiagError(c.argLocs[1], "transpose: perm entries must be axes of a rank-" + std::to_string(r) +
                                        " tensor, got " + toLiteral(d));
    perm.push_back(Dim(d.i < 0 ? d.i + r : d.i));
  }
  return V::tensor(b.add(OpKind::Transpose, {x.t}, Attrs().set("perm", perm), c.loc), x.vocab);
}

/// batch_matmul(a, b, ta = false, tb = false): one product per leading index, [..,M,K] x [..,K,N].
Value batchMatmul(Builder& b, CallSite& c) {
  Value x = b.tensorArg(c, 0), y = b.tensorArg(c, 1);
  Attrs a;
  a.set("ta", static_cast<int64_t>(b.boolArg(c, 2))).set("tb", static_cast<int64_t>(b.boolArg(c, 3)));
  return V::tensor(b.add(OpKind::BatchMatMul, {x.t, y.t}, a, c.loc));
}

/// layer_norm(x, eps = 1e-5, affine = true): over the last axis; creates gamma (ones), beta (zeros).
Value layerNorm(Builder& b, CallSite& c) {
  Value x = b.tensorArg(c, 0);
  const Shape& s = b.shape(x);
  if (s.empty() || !s.back().isStatic())
    throw DiagError(c.loc, "layer_norm: expects x of shape [..., D] with a static D, got " + shapeStr(s));
  Shape d{s.back()};
  ValueId gamma, beta;
  if (b.boolArg(c, 2)) {
    std::string scope = b.layerScope("layer_norm", c.ownScope);
    gamma = b.param(scope + ".gamma", d, "ones", 0, false, c.loc);
    beta = b.param(scope + ".beta", d, "zeros", 0, false, c.loc);
  } else {
    gamma = b.constantOf(1.0, d, c.loc);
    beta = b.constantOf(0.0, d, c.loc);
  }
  return V::tensor(b.add(OpKind::LayerNorm, {x.t, gamma, beta}, Attrs().set("eps", b.floatArg(c, 1)), c.loc));
}

/// batch_norm(x, eps = 1e-5, momentum = 0.1, affine = true): x [B,D] or [B,T,D]; batch statistics
/// while training, running ones when serving. Creates gamma/beta (if affine) and the running
/// mean (zeros) and variance (ones), which batch_moments updates in place.
Value batchNorm(Builder& b, CallSite& c) {
  Value x = b.tensorArg(c, 0);
  const Shape& s = b.shape(x);
  if ((s.size() != 2 && s.size() != 3) || !s.back().isStatic())
    throw DiagError(c.loc, "batch_norm: expects x of shape [B,D] or [B,T,D], got " + shapeStr(s));
  Shape d{s.back()};
  std::string scope = b.layerScope("batch_norm", c.ownScope);
  ValueId gamma = -1, beta = -1;
  if (b.boolArg(c, 3)) {
    gamma = b.param(scope + ".gamma", d, "ones", 0, false, c.loc);
    beta = b.param(scope + ".beta", d, "zeros", 0, false, c.loc);
  }
  ValueId rm = b.param(scope + ".running_mean", d, "zeros", 0, false, c.loc);
  ValueId rv = b.param(scope + ".running_var", d, "ones", 0, false, c.loc);
  return V::tensor(recc::batchNorm(b.graphBuilder(), x.t, gamma, beta, rm, rv, b.floatArg(c, 1), b.floatArg(c, 2), c.loc));
}

/// cross_entropy(logits, target, ignore_index = 0): per-position loss [...] (not reduced).
Value crossEntropy(Builder& b, CallSite& c) {
  Value z = b.tensorArg(c, 0), t = b.tensorArg(c, 1, false);
  return V::tensor(b.add(OpKind::CrossEntropy, {z.t, t.t}, Attrs().set("ignore_index", b.intArg(c, 2)), c.loc));
}

/// positional_encoding(length, dim): the sinusoidal table [length, dim].
Value positionalEncoding(Builder& b, CallSite& c) {
  Attrs a;
  a.set("length", b.intArg(c, 0)).set("dim", b.intArg(c, 1));
  return V::tensor(b.add(OpKind::PositionalEncoding, {}, a, c.loc));
}

/// conv1d(x, out_channels, kernel, stride = 1, padding = 0, bias = true): x [B,T,Cin] -> [B,T',Cout];
/// creates w [kernel, Cin, Cout] and b [Cout], uniform(+-1/sqrt(Cin * kernel)) as PyTorch's Conv1d.
Value conv1d(Builder& b, CallSite& c) {
  Value x = b.tensorArg(c, 0);
  const Shape& s = b.shape(x);
  if (s.size() != 3 || !s[2].isStatic())
    throw DiagError(c.loc, "conv1d: expects x of shape [B, T, C_in], got " + shapeStr(s));
  int64_t cout = b.intArg(c, 1), k = b.intArg(c, 2);
  if (cout <= 0 || k <= 0) throw DiagError(c.loc, "conv1d: out_channels and kernel must be positive");
  double bound = 1.0 / std::sqrt(static_cast<double>(s[2].n) * static_cast<double>(k));  // k may be huge
  std::string scope = b.layerScope("conv1d", c.ownScope);
  ValueId w = b.param(scope + ".w", {k, s[2], cout}, "uniform", bound, false, c.loc);
  ValueId bias = b.boolArg(c, 5) ? b.param(scope + ".b", {cout}, "uniform", bound, false, c.loc)
                                 : b.constantOf(0.0, {cout}, c.loc);
  Attrs a;
  a.set("stride", b.intArg(c, 3)).set("padding", b.intArg(c, 4));
  return V::tensor(b.add(OpKind::Conv1d, {x.t, w, bias}, a, c.loc));
}

/// one_hot(ids, depth = 0): f32 [..., depth]; depth 0 = the size of the ids' vocabulary.
Value oneHot(Builder& b, CallSite& c) {
  const Value& x = c.args[0];
  if (x.kind != Value::Kind::Tensor || b.graph().at(x.t).dtype != DType::I32)
    throw DiagError(c.argLocs[0], "one_hot: expects categorical ids, got " + describe(x));
  int64_t depth = b.intArg(c, 1);
  Dim d = depth > 0 ? Dim(depth) : Dim::sym_("|" + x.vocab + "|");
  if (depth <= 0 && x.vocab.empty()) throw DiagError(c.argLocs[1], "one_hot: give a depth for ids without a vocabulary");
  return V::tensor(b.add(OpKind::OneHot, {x.t}, Attrs().set("depth", Shape{d}), c.loc));
}

/// expand(x, axis, n): a new axis of size n at `axis`, x repeated along it (broadcast).
Value expand(Builder& b, CallSite& c) {
  Value x = b.tensorArg(c, 0);
  Shape s = b.shape(x);
  int64_t axis = b.axisArg(c, 1, s.size() + 1);
  int64_t n = b.intArg(c, 2);
  if (n <= 0) throw DiagError(c.argLocs[2], "expand: n must be positive, got " + std::to_string(n));
  s.insert(s.begin() + axis, Dim(1));
  ValueId y = b.reshape(x.t, s, c.loc);
  s[static_cast<size_t>(axis)] = Dim(n);
  return V::tensor(b.add(OpKind::BroadcastTo, {y}, Attrs().set("shape", s), c.loc));
}

/// causal_mask(n): f32 [n, n], 1 where the key position j <= the query position i, else 0.
Value causalMask(Builder& b, CallSite& c) {
  int64_t n = b.intArg(c, 0);
  if (n <= 0 || n > 4096) throw DiagError(c.argLocs[0], "causal_mask: n must be in 1..4096, got " + std::to_string(n));
  std::vector<ValueId> rows;
  for (int64_t i = 0; i < n; ++i) {
    ValueId ones = b.constantOf(1.0, {1, i + 1}, c.loc);
    rows.push_back(i + 1 == n ? ones
                              : b.add(OpKind::Concat, {ones, b.constantOf(0.0, {1, n - i - 1}, c.loc)},
                                      Attrs().set("axis", int64_t{1}), c.loc));
  }
  return V::tensor(n == 1 ? rows[0] : b.add(OpKind::Concat, rows, Attrs().set("axis", int64_t{0}), c.loc));
}

/// table(layer, vocab): an embedding layer's table for a vocabulary, f32 [|vocab|, dim] (e.g. an
/// output layer tied to the item embeddings: matmul(h, table(emb, "movie"), tb = true)).
Value table(Builder& b, CallSite& c) {
  if (c.args[0].kind != Value::Kind::Layer)
    throw DiagError(c.argLocs[0], "table: expected an embedding layer, got " + describe(c.args[0]));
  if (c.args[1].kind != Value::Kind::Str || c.args[1].s.empty())
    throw DiagError(c.argLocs[1], "table: expected a vocabulary name, e.g. \"movie\", got " + describe(c.args[1]));
  bool known = false;
  for (const InputDecl& d : b.graph().inputs) known = known || d.vocab == c.args[1].s;
  if (!known) throw DiagError(c.argLocs[1], "table: no input uses the vocabulary '" + c.args[1].s + "'");
  return V::tensor(b.embeddingTable(*c.args[0].layer, c.args[1].s, c.loc));
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
      {"matmul", {"a", "b", "ta", "tb"}, 2, {V::boolean(false), V::boolean(false)}, matmul},
      {"slice", {"x", "axis", "begin", "end"}, 4, {}, slice},
      {"bce_with_logits", {"logit", "label", "reduce"}, 2, {V::boolean(true)}, bce},
      {"dense", {"x", "units", "bias"}, 2, {V::boolean(true)}, dense},
      {"embedding", {"dim", "std", "max_norm", "sparse"}, 1, {V::real(0.05), V::real(0.0), V::boolean(false)}, embedding},
      {"param", {"shape", "init", "scale"}, 1, {V::string("zeros"), V::real(0.0)}, param},
      {"leaky_relu", {"x", "alpha"}, 1, {V::real(0.01)}, leakyRelu},
      {"prelu", {"x", "shared", "init"}, 1, {V::boolean(true), V::real(0.25)}, prelu},
      {"pad_mask", {"ids", "pad"}, 1, {V::integer(0)}, padMask},
      {"masked_fill", {"x", "mask", "value"}, 2, {V::real(0.0)}, maskedFill},
      {"dropout", {"x", "p", "seed"}, 1, {V::real(0.5), V::integer(-1)}, dropout},
      {"softmax", {"x", "axis"}, 1, {V::integer(-1)},
       [](Builder& b, CallSite& c) { return softmax(b, c, OpKind::Softmax); }},
      {"log_softmax", {"x", "axis"}, 1, {V::integer(-1)},
       [](Builder& b, CallSite& c) { return softmax(b, c, OpKind::LogSoftmax); }},
      {"transpose", {"x", "perm"}, 2, {}, transpose},
      {"batch_matmul", {"a", "b", "ta", "tb"}, 2, {V::boolean(false), V::boolean(false)}, batchMatmul},
      {"layer_norm", {"x", "eps", "affine"}, 1, {V::real(1e-5), V::boolean(true)}, layerNorm},
      {"batch_norm", {"x", "eps", "momentum", "affine"}, 1, {V::real(1e-5), V::real(0.1), V::boolean(true)}, batchNorm},
      {"cross_entropy", {"logits", "target", "ignore_index"}, 2, {V::integer(0)}, crossEntropy},
      {"positional_encoding", {"length", "dim"}, 2, {}, positionalEncoding},
      {"conv1d", {"x", "out_channels", "kernel", "stride", "padding", "bias"}, 3,
       {V::integer(1), V::integer(0), V::boolean(true)}, conv1d},
      {"one_hot", {"ids", "depth"}, 1, {V::integer(0)}, oneHot},
      {"expand", {"x", "axis", "n"}, 3, {}, expand},
      {"table", {"layer", "vocab"}, 2, {}, table},
      {"causal_mask", {"n"}, 1, {}, causalMask},
      {"zeros", {"shape"}, 1, {}, [](Builder& b, CallSite& c) { return filled(b, c, 0.0); }},
      {"ones", {"shape"}, 1, {}, [](Builder& b, CallSite& c) { return filled(b, c, 1.0); }},
      {"size", {"x", "axis"}, 2, {}, size},
      {"take", {"x", "axis", "index"}, 3, {}, take},
      {"scan", {"cell", "h0", "xs"}, 3, {}, nullptr, true},
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
  std::vector<ArgName> names;
  for (const ast::Arg& a : args) names.push_back({a.name, a.loc});
  return bindArgs(fname, params, required, names, callLoc);
}

std::vector<int> bindArgs(const std::string& fname, const std::vector<std::string>& params, size_t required,
                          const std::vector<ArgName>& args, const Loc& callLoc) {
  std::vector<int> slot(params.size(), -1);
  size_t positional = 0;
  bool sawKeyword = false;
  for (size_t i = 0; i < args.size(); ++i) {
    const ArgName& a = args[i];
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
