// The reference evaluator: every op as a naive loop over concrete shapes, reductions in double.
// It deliberately calls no library kernel (only the optimizer step) so that it stays an
// independent oracle for the JIT's Eigen kernels and fused loops.
#include "runtime/reference/Evaluator.h"

#include <algorithm>
#include <cmath>
#include <string>

namespace recc {

namespace {

using Dims = std::vector<int64_t>;

/// Product of d[from, to) (to clamped to the rank).
int64_t product(const Dims& d, size_t from, size_t to) {
  int64_t n = 1;
  for (size_t i = from; i < to && i < d.size(); ++i) n *= d[i];
  return n;
}
int64_t product(const Dims& d) { return product(d, 0, d.size()); }
int64_t productFrom(const Dims& d, size_t from) { return product(d, from, d.size()); }

Dims concrete(const Shape& s, int64_t batch, const Loc& loc) {
  Dims out;
  for (const Dim& d : s) {
    if (d.isBatch()) out.push_back(batch);
    else if (d.isStatic()) out.push_back(d.n);
    else throw DiagError(loc, "evaluator: vocabulary dimension " + d.str() + " is not bound");
  }
  return out;
}

/// Per output axis, the stride of `in` when broadcast (right-aligned) to `out`: 0 on
/// broadcast or missing axes.
Dims broadcastStrides(const Dims& in, const Dims& out) {
  Dims strides(out.size(), 0);
  int64_t s = 1;
  for (size_t k = 0; k < in.size(); ++k) {
    size_t di = in.size() - 1 - k, dout = out.size() - 1 - k;
    strides[dout] = in[di] == 1 ? 0 : s;
    s *= in[di];
  }
  return strides;
}

/// Offset in a broadcast operand of the element at linear index `lin` of `out`.
int64_t offsetOf(int64_t lin, const Dims& out, const Dims& strides) {
  int64_t off = 0;
  for (size_t d = out.size(); d-- > 0;) {
    off += (lin % out[d]) * strides[d];
    lin /= out[d];
  }
  return off;
}

Tensor f32(Dims shape) {
  Tensor t;
  t.shape = std::move(shape);
  t.f.assign(static_cast<size_t>(product(t.shape)), 0.0f);
  return t;
}

double unary(OpKind op, double x) {
  switch (op) {
    case OpKind::Neg: return -x;
    case OpKind::Exp: return std::exp(x);
    case OpKind::Log: return std::log(x);
    case OpKind::Sqrt: return std::sqrt(x);
    case OpKind::Sigmoid: return 1.0 / (1.0 + std::exp(-x));
    case OpKind::Tanh: return std::tanh(x);
    case OpKind::Relu: return x > 0 ? x : 0.0;
    case OpKind::Step: return x > 0 ? 1.0 : 0.0;
    default: return 0;
  }
}

double binary(OpKind op, double a, double b) {
  switch (op) {
    case OpKind::Add: return a + b;
    case OpKind::Sub: return a - b;
    case OpKind::Mul: return a * b;
    case OpKind::Div: return a / b;
    case OpKind::BceWithLogits:  // stable form: max(z,0) - z*y + log1p(exp(-|z|))
      return std::max(a, 0.0) - a * b + std::log1p(std::exp(-std::abs(a)));
    default: return 0;
  }
}

struct Eval {
  const Graph& g;
  int64_t batch;
  const std::vector<Tensor>& inputs;
  ParamState& state;
  std::vector<Tensor> r;

  const Tensor& in(const Node& n, size_t k) { return r[static_cast<size_t>(n.inputs[k])]; }

  Tensor broadcast(const Tensor& x, const Dims& out) {
    Tensor t = f32(out);
    Dims st = broadcastStrides(x.shape, out);
    for (int64_t i = 0; i < t.size(); ++i) t.f[static_cast<size_t>(i)] = x.f[static_cast<size_t>(offsetOf(i, out, st))];
    return t;
  }

  Tensor reduce(const Node& n, const Tensor& x, bool mean) {
    auto axis = static_cast<size_t>(n.attrs.i("axis"));
    int64_t outer = product(x.shape, 0, axis), len = x.shape[axis], inner = productFrom(x.shape, axis + 1);
    Tensor t = f32(concrete(n.shape, batch, n.loc));
    for (int64_t o = 0; o < outer; ++o)
      for (int64_t j = 0; j < inner; ++j) {
        double acc = 0;
        for (int64_t k = 0; k < len; ++k) acc += x.f[static_cast<size_t>((o * len + k) * inner + j)];
        if (mean) acc /= static_cast<double>(len);
        t.f[static_cast<size_t>(o * inner + j)] = static_cast<float>(acc);
      }
    return t;
  }

  Tensor matmul(const Node& n, const Tensor& a, const Tensor& b) {
    bool ta = n.attrs.i("ta") != 0, tb = n.attrs.i("tb") != 0;
    int64_t m = ta ? a.shape[1] : a.shape[0], k = ta ? a.shape[0] : a.shape[1];
    int64_t nn = tb ? b.shape[0] : b.shape[1];
    Tensor t = f32({m, nn});
    for (int64_t i = 0; i < m; ++i)
      for (int64_t j = 0; j < nn; ++j) {
        double acc = 0;
        for (int64_t q = 0; q < k; ++q) {
          float av = ta ? a.f[static_cast<size_t>(q * m + i)] : a.f[static_cast<size_t>(i * k + q)];
          float bv = tb ? b.f[static_cast<size_t>(j * k + q)] : b.f[static_cast<size_t>(q * nn + j)];
          acc += static_cast<double>(av) * bv;
        }
        t.f[static_cast<size_t>(i * nn + j)] = static_cast<float>(acc);
      }
    return t;
  }

  void checkId(const Node& n, int32_t id, int64_t rows) {
    if (id < 0 || id >= rows)
      throw DiagError(n.loc, std::string(opName(n.op)) + ": id " + std::to_string(id) +
                                 " out of range for " + std::to_string(rows) + " rows");
  }

  Tensor gather(const Node& n) {
    Tensor& table = r[static_cast<size_t>(n.inputs[0])];
    const Tensor& ids = in(n, 1);
    int64_t rows = table.shape[0], dim = table.shape[1];
    auto maxNorm = static_cast<double>(static_cast<float>(n.attrs.f("max_norm")));
    const Node& tn = g.at(n.inputs[0]);
    for (int32_t id : ids.i) {
      checkId(n, id, rows);
      if (maxNorm <= 0) continue;
      // PyTorch's embedding_renorm_: rescale looked-up rows in place; the persistent
      // parameter changes too, so later steps (and the optimizer) see the renormalised row.
      float* row = &table.f[static_cast<size_t>(id * dim)];
      double norm = 0;
      for (int64_t d = 0; d < dim; ++d) norm += static_cast<double>(row[d]) * row[d];
      norm = std::sqrt(norm);
      if (norm <= maxNorm) continue;
      double scale = maxNorm / (norm + 1e-7);
      for (int64_t d = 0; d < dim; ++d) row[d] = static_cast<float>(row[d] * scale);
      if (tn.op == OpKind::Param) {
        auto& pv = state.values[static_cast<size_t>(tn.attrs.i("index"))];
        std::copy(row, row + dim, pv.begin() + id * dim);
      }
    }
    Tensor t = f32(concrete(n.shape, batch, n.loc));
    for (size_t k = 0; k < ids.i.size(); ++k)
      std::copy_n(&table.f[static_cast<size_t>(ids.i[k] * dim)], dim, &t.f[k * static_cast<size_t>(dim)]);
    return t;
  }

  Tensor scatterAdd(const Node& n) {
    const Tensor& ids = in(n, 0);
    const Tensor& gr = in(n, 1);
    Dims shape = concrete(n.attrs.shape("shape"), batch, n.loc);
    int64_t dim = shape[1];
    std::vector<double> acc(static_cast<size_t>(product(shape)), 0.0);
    for (size_t k = 0; k < ids.i.size(); ++k) {
      checkId(n, ids.i[k], shape[0]);
      for (int64_t d = 0; d < dim; ++d)
        acc[static_cast<size_t>(ids.i[k] * dim + d)] += gr.f[k * static_cast<size_t>(dim) + static_cast<size_t>(d)];
    }
    Tensor t = f32(shape);
    std::transform(acc.begin(), acc.end(), t.f.begin(), [](double x) { return static_cast<float>(x); });
    return t;
  }

  Tensor concat(const Node& n) {
    auto axis = static_cast<size_t>(n.attrs.i("axis"));
    Tensor t = f32(concrete(n.shape, batch, n.loc));
    int64_t outer = product(t.shape, 0, axis), inner = productFrom(t.shape, axis + 1);
    int64_t outRow = t.shape[axis] * inner, off = 0;
    for (size_t k = 0; k < n.inputs.size(); ++k) {
      const Tensor& x = in(n, k);
      int64_t chunk = x.shape[axis] * inner;
      for (int64_t o = 0; o < outer; ++o)
        std::copy_n(&x.f[static_cast<size_t>(o * chunk)], chunk, &t.f[static_cast<size_t>(o * outRow + off)]);
      off += chunk;
    }
    return t;
  }

  Tensor slice(const Node& n, const Tensor& x) {
    auto axis = static_cast<size_t>(n.attrs.i("axis"));
    int64_t b = n.attrs.i("begin"), e = n.attrs.i("end");
    Tensor t;
    t.dtype = x.dtype;
    t.shape = concrete(n.shape, batch, n.loc);
    int64_t outer = product(x.shape, 0, axis), inner = productFrom(x.shape, axis + 1), len = x.shape[axis];
    for (int64_t o = 0; o < outer; ++o) {
      auto from = static_cast<size_t>((o * len + b) * inner), to = static_cast<size_t>((o * len + e) * inner);
      if (x.dtype == DType::F32) t.f.insert(t.f.end(), x.f.begin() + from, x.f.begin() + to);
      else t.i.insert(t.i.end(), x.i.begin() + from, x.i.begin() + to);
    }
    return t;
  }

  Tensor input(const Node& n) {
    auto idx = static_cast<size_t>(n.attrs.i("index"));
    if (idx >= inputs.size())
      throw DiagError(n.loc, "evaluator: input " + std::to_string(idx) + " was not provided");
    const Tensor& x = inputs[idx];
    Dims want = concrete(n.shape, batch, n.loc);
    if (x.dtype != n.dtype || x.shape != want || x.size() != product(want) ||
        static_cast<int64_t>(x.dtype == DType::F32 ? x.f.size() : x.i.size()) != product(want))
      throw DiagError(n.loc, "evaluator: input '" + g.inputs[idx].name + "' has the wrong dtype or shape");
    return x;
  }

  Tensor param(const Node& n) {
    auto idx = static_cast<size_t>(n.attrs.i("index"));
    Tensor t;
    t.shape = concrete(n.shape, batch, n.loc);
    if (idx >= state.values.size() || static_cast<int64_t>(state.values[idx].size()) != product(t.shape))
      throw DiagError(n.loc, "evaluator: parameter " + std::to_string(idx) + " is not initialised");
    t.f = state.values[idx];
    return t;
  }

  void update(const Node& n) {
    auto idx = static_cast<size_t>(n.attrs.i("index"));
    auto& p = state.values.at(idx);
    const Tensor& gr = in(n, 1);
    state.m.resize(state.values.size());
    state.v.resize(state.values.size());
    state.m[idx].resize(p.size(), 0.0f);
    state.v[idx].resize(p.size(), 0.0f);
    recc_rt_update_f32(&state.opt, p.data(), gr.f.data(), state.m[idx].data(), state.v[idx].data(),
                       static_cast<int64_t>(p.size()));
  }

  Tensor node(const Node& n) {
    const OpClass cls = opInfo(n.op).cls;
    if (cls == OpClass::Elementwise) {
      Tensor t = f32(concrete(n.shape, batch, n.loc));
      const Tensor& a = in(n, 0);
      Dims sa = broadcastStrides(a.shape, t.shape);
      if (n.inputs.size() == 1) {
        for (int64_t i = 0; i < t.size(); ++i)
          t.f[static_cast<size_t>(i)] = static_cast<float>(unary(n.op, a.f[static_cast<size_t>(offsetOf(i, t.shape, sa))]));
        return t;
      }
      const Tensor& b = in(n, 1);
      Dims sb = broadcastStrides(b.shape, t.shape);
      for (int64_t i = 0; i < t.size(); ++i)
        t.f[static_cast<size_t>(i)] = static_cast<float>(binary(n.op, a.f[static_cast<size_t>(offsetOf(i, t.shape, sa))],
                                                              b.f[static_cast<size_t>(offsetOf(i, t.shape, sb))]));
      return t;
    }
    switch (n.op) {
      case OpKind::Input: return input(n);
      case OpKind::Param: return param(n);
      case OpKind::Const: {
        Tensor t = f32(concrete(n.shape, batch, n.loc));
        std::fill(t.f.begin(), t.f.end(), static_cast<float>(n.attrs.f("value")));
        return t;
      }
      case OpKind::BatchSize: return Tensor{DType::F32, {}, {static_cast<float>(batch)}, {}};
      case OpKind::Sum: return reduce(n, in(n, 0), false);
      case OpKind::Mean: return reduce(n, in(n, 0), true);
      case OpKind::SumTo: {
        const Tensor& x = in(n, 0);
        Dims target = concrete(n.shape, batch, n.loc);
        Dims st = broadcastStrides(target, x.shape);
        std::vector<double> acc(static_cast<size_t>(product(target)), 0.0);
        for (int64_t i = 0; i < x.size(); ++i)
          acc[static_cast<size_t>(offsetOf(i, x.shape, st))] += x.f[static_cast<size_t>(i)];
        Tensor t = f32(target);
        std::transform(acc.begin(), acc.end(), t.f.begin(), [](double v) { return static_cast<float>(v); });
        return t;
      }
      case OpKind::BroadcastTo: return broadcast(in(n, 0), concrete(n.shape, batch, n.loc));
      case OpKind::Reshape: {
        Tensor t = in(n, 0);
        t.shape = concrete(n.shape, batch, n.loc);
        return t;
      }
      case OpKind::Concat: return concat(n);
      case OpKind::Slice: return slice(n, in(n, 0));
      case OpKind::MatMul: return matmul(n, in(n, 0), in(n, 1));
      case OpKind::Gather: return gather(n);
      case OpKind::ScatterAdd: return scatterAdd(n);
      case OpKind::Update: update(n); return Tensor{};
      default: break;
    }
    throw DiagError(n.loc, std::string("evaluator: no reference rule for ") + opName(n.op));
  }
};

}  // namespace

int64_t Tensor::size() const {
  int64_t n = 1;
  for (int64_t d : shape) n *= d;
  return n;
}

Tensor Tensor::zerosF32(std::vector<int64_t> shape) { return f32(std::move(shape)); }

Tensor Tensor::ids(std::vector<int64_t> shape, std::vector<int32_t> values) {
  Tensor t;
  t.dtype = DType::I32;
  t.shape = std::move(shape);
  t.i = std::move(values);
  return t;
}

std::vector<Tensor> evaluate(const Graph& g, int64_t batch, const std::vector<Tensor>& inputs,
                             ParamState& state) {
  Eval e{g, batch, inputs, state, {}};
  e.r.reserve(g.nodes.size());
  for (const Node& n : g.nodes) e.r.push_back(e.node(n));
  return std::move(e.r);
}

bool hasReferenceRule(OpKind op) {
  // No default: a new op in Ops.def without a case here fails the build (-Wswitch -Werror).
  switch (op) {
#define OP(E, NAME, ARITY, KIND) case OpKind::E: return true;
#include "compiler/ops/Ops.def"
#undef OP
  }
  return false;
}

}  // namespace recc
