// The reference evaluator: every op as a naive loop over concrete shapes, reductions in double.
// It deliberately calls no library kernel (only the optimizer step) so that it stays an
// independent oracle for the JIT's Eigen kernels and fused loops.
#include "runtime/reference/Evaluator.h"

#include "runtime/kernels/DropoutHash.h"

#include <algorithm>
#include <cmath>
#include <map>
#include <string>
#include <vector>

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

double unary(const Node& n, double x) {
  switch (n.op) {
    case OpKind::LeakyRelu: return x > 0 ? x : static_cast<float>(n.attrs.f("alpha", 0.01)) * x;
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

double binary(const Node& n, double a, double b) {
  switch (n.op) {
    case OpKind::Prelu: return a > 0 ? a : b * a;
    case OpKind::MaskedFill: return b != 0 ? a : static_cast<float>(n.attrs.f("value"));
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

  /// out[m, n] (at `out`) = op(a) x op(b) with a stored [M,K] / [K,M] (ta), b [K,N] / [N,K] (tb).
  static void gemm(float* out, const float* a, const float* b, int64_t m, int64_t nn, int64_t k,
                      bool ta, bool tb) {
    for (int64_t i = 0; i < m; ++i)
      for (int64_t j = 0; j < nn; ++j) {
        double acc = 0;
        for (int64_t q = 0; q < k; ++q) {
          float av = ta ? a[q * m + i] : a[i * k + q];
          float bv = tb ? b[j * k + q] : b[q * nn + j];
          acc += static_cast<double>(av) * bv;
        }
        out[i * nn + j] = static_cast<float>(acc);
      }
  }

  Tensor reduceMax(const Node& n, const Tensor& x) {
    auto axis = static_cast<size_t>(n.attrs.i("axis"));
    int64_t outer = product(x.shape, 0, axis), len = x.shape[axis], inner = productFrom(x.shape, axis + 1);
    Tensor t = f32(concrete(n.shape, batch, n.loc));
    for (int64_t o = 0; o < outer; ++o)
      for (int64_t j = 0; j < inner; ++j) {
        float m = -INFINITY;
        for (int64_t k = 0; k < len; ++k) m = std::max(m, x.f[static_cast<size_t>((o * len + k) * inner + j)]);
        t.f[static_cast<size_t>(o * inner + j)] = m;
      }
    return t;
  }

  Tensor matmul(const Node& n, const Tensor& a, const Tensor& b) {
    // Leading dims of rank > 2 operands flatten into the rows (ta=0) or the contraction (ta=1).
    bool ta = n.attrs.i("ta") != 0, tb = n.attrs.i("tb") != 0;
    int64_t lead = product(a.shape, 0, a.shape.size() - 1), last = a.shape.back();
    int64_t m = ta ? last : lead, k = ta ? lead : last;
    int64_t nn = tb ? product(b.shape, 0, b.shape.size() - 1) : b.shape.back();
    Tensor t = f32(concrete(n.shape, batch, n.loc));
    gemm(t.f.data(), a.f.data(), b.f.data(), m, nn, k, ta, tb);
    return t;
  }

  Tensor batchMatmul(const Node& n, const Tensor& a, const Tensor& b) {
    bool ta = n.attrs.i("ta") != 0, tb = n.attrs.i("tb") != 0;
    size_t ra = a.shape.size(), rb = b.shape.size();
    int64_t m = a.shape[ra - (ta ? 1 : 2)], k = a.shape[ra - (ta ? 2 : 1)], nn = b.shape[rb - (tb ? 2 : 1)];
    Tensor t = f32(concrete(n.shape, batch, n.loc));
    int64_t count = product(t.shape, 0, t.shape.size() - 2);
    int64_t sa = ra > 2 ? m * k : 0, sb = rb > 2 ? k * nn : 0;  // a 2-D operand is shared
    for (int64_t l = 0; l < count; ++l)
      gemm(&t.f[static_cast<size_t>(l * m * nn)], a.f.data() + l * sa, b.f.data() + l * sb, m, nn, k, ta, tb);
    return t;
  }

  Tensor transpose(const Node& n, const Tensor& x) {
    const Shape& perm = n.attrs.shape("perm");
    Tensor t;
    t.dtype = x.dtype;
    t.shape = concrete(n.shape, batch, n.loc);
    Dims inStride(x.shape.size(), 1);
    for (size_t d = x.shape.size(); d-- > 1;) inStride[d - 1] = inStride[d] * x.shape[d];
    if (x.dtype == DType::F32) t.f.resize(static_cast<size_t>(product(t.shape)));
    else t.i.resize(static_cast<size_t>(product(t.shape)));
    for (int64_t o = 0; o < product(t.shape); ++o) {
      int64_t rest = o, src = 0;
      for (size_t j = t.shape.size(); j-- > 0;) {
        src += (rest % t.shape[j]) * inStride[static_cast<size_t>(perm[j].n)];
        rest /= t.shape[j];
      }
      if (x.dtype == DType::F32) t.f[static_cast<size_t>(o)] = x.f[static_cast<size_t>(src)];
      else t.i[static_cast<size_t>(o)] = x.i[static_cast<size_t>(src)];
    }
    return t;
  }

  Tensor oneHot(const Node& n, const Tensor& ids) {
    Tensor t = f32(concrete(n.shape, batch, n.loc));
    int64_t depth = t.shape.back();
    for (size_t k = 0; k < ids.i.size(); ++k)
      if (ids.i[k] >= 0 && ids.i[k] < depth) t.f[k * static_cast<size_t>(depth) + static_cast<size_t>(ids.i[k])] = 1;
    return t;
  }

  Tensor padMask(const Node& n, const Tensor& ids) {
    Tensor t = f32(concrete(n.shape, batch, n.loc));
    const auto pad = static_cast<int32_t>(n.attrs.i("pad", 0));
    for (size_t k = 0; k < ids.i.size(); ++k) t.f[k] = ids.i[k] != pad ? 1.0f : 0.0f;
    return t;
  }

  Tensor dropout(const Node& n, const Tensor& x) {
    const double p = n.attrs.f("p", 0.5);
    const uint64_t key = dropoutKey(n.attrs.i("seed", 0), state.opt.seed, state.opt.step);
    const uint64_t threshold = dropoutThreshold(p);
    const double scale = dropoutScale(p);
    Tensor t = f32(x.shape);
    for (int64_t i = 0; i < t.size(); ++i)
      if (dropoutBits(key, i) >= threshold)
        t.f[static_cast<size_t>(i)] = static_cast<float>(x.f[static_cast<size_t>(i)] * scale);
    return t;
  }

  // softmax / log_softmax along `axis`, max-subtracted; sums in double.
  Tensor softmax(const Node& n, const Tensor& x, bool log) {
    auto axis = static_cast<size_t>(n.attrs.i("axis"));
    int64_t outer = product(x.shape, 0, axis), len = x.shape[axis], inner = productFrom(x.shape, axis + 1);
    Tensor t = f32(x.shape);
    for (int64_t o = 0; o < outer; ++o)
      for (int64_t j = 0; j < inner; ++j) {
        auto at = [&](int64_t k) { return static_cast<size_t>((o * len + k) * inner + j); };
        double mx = -INFINITY, sum = 0;
        for (int64_t k = 0; k < len; ++k) mx = std::max(mx, static_cast<double>(x.f[at(k)]));
        for (int64_t k = 0; k < len; ++k) sum += std::exp(x.f[at(k)] - mx);
        for (int64_t k = 0; k < len; ++k)
          t.f[at(k)] = static_cast<float>(log ? x.f[at(k)] - mx - std::log(sum) : std::exp(x.f[at(k)] - mx) / sum);
      }
    return t;
  }

  Tensor layerNorm(const Node& n) {
    const Tensor& x = in(n, 0);
    const Tensor& gamma = in(n, 1);
    const Tensor& beta = in(n, 2);
    const double eps = n.attrs.f("eps", 1e-5);
    int64_t dim = x.shape.back(), rows = x.size() / dim;
    Tensor t = f32(x.shape);
    for (int64_t r0 = 0; r0 < rows; ++r0) {
      const float* row = &x.f[static_cast<size_t>(r0 * dim)];
      double mean = 0, var = 0;
      for (int64_t d = 0; d < dim; ++d) mean += row[d];
      mean /= static_cast<double>(dim);
      for (int64_t d = 0; d < dim; ++d) var += (row[d] - mean) * (row[d] - mean);
      var /= static_cast<double>(dim);
      double rstd = 1 / std::sqrt(var + eps);
      for (int64_t d = 0; d < dim; ++d)
        t.f[static_cast<size_t>(r0 * dim + d)] =
            static_cast<float>((row[d] - mean) * rstd * gamma.f[static_cast<size_t>(d)] + beta.f[static_cast<size_t>(d)]);
    }
    return t;
  }

  Tensor batchMoments(const Node& n) {
    // [mean; 1/sqrt(var + eps)] over every leading dim; the running statistics (params) are
    // updated in place like Gather's max_norm, in the state and in this run's param values.
    const Tensor& x = in(n, 0);
    const double eps = n.attrs.f("eps", 1e-5), momentum = n.attrs.f("momentum", 0.1);
    int64_t dim = x.shape.back(), rows = x.size() / dim;
    Tensor t = f32({2, dim});
    for (int64_t d = 0; d < dim; ++d) {
      double mean = 0, var = 0;
      for (int64_t r0 = 0; r0 < rows; ++r0) mean += x.f[static_cast<size_t>(r0 * dim + d)];
      mean /= static_cast<double>(rows);
      for (int64_t r0 = 0; r0 < rows; ++r0) {
        double c = x.f[static_cast<size_t>(r0 * dim + d)] - mean;
        var += c * c;
      }
      double unbiased = rows > 1 ? var / static_cast<double>(rows - 1) : var;
      var /= static_cast<double>(rows);
      t.f[static_cast<size_t>(d)] = static_cast<float>(mean);
      t.f[static_cast<size_t>(dim + d)] = static_cast<float>(1 / std::sqrt(var + eps));
      for (size_t k : {size_t{1}, size_t{2}}) {
        Tensor& run = r[static_cast<size_t>(n.inputs[k])];
        float& v = run.f[static_cast<size_t>(d)];
        v = static_cast<float>((1 - momentum) * v + momentum * (k == 1 ? mean : unbiased));
        auto p = static_cast<size_t>(g.at(n.inputs[k]).attrs.i("index"));
        state.values[p][static_cast<size_t>(d)] = v;
      }
    }
    return t;
  }

  Tensor crossEntropy(const Node& n) {
    const Tensor& z = in(n, 0);
    const Tensor& target = in(n, 1);
    const auto ignore = static_cast<int32_t>(n.attrs.i("ignore_index", 0));
    int64_t classes = z.shape.back();
    Tensor t = f32(concrete(n.shape, batch, n.loc));
    for (size_t k = 0; k < target.i.size(); ++k) {
      if (target.i[k] == ignore) continue;
      checkId(n, target.i[k], classes);
      const float* row = &z.f[k * static_cast<size_t>(classes)];
      double mx = -INFINITY, sum = 0;
      for (int64_t c = 0; c < classes; ++c) mx = std::max(mx, static_cast<double>(row[c]));
      for (int64_t c = 0; c < classes; ++c) sum += std::exp(row[c] - mx);
      t.f[k] = static_cast<float>(mx + std::log(sum) - row[target.i[k]]);
    }
    return t;
  }

  Tensor positionalEncoding(const Node& n) {
    int64_t len = n.attrs.i("length"), dim = n.attrs.i("dim");
    Tensor t = f32({len, dim});
    for (int64_t p = 0; p < len; ++p)
      for (int64_t i = 0; i < dim; ++i) {
        double angle = static_cast<double>(p) / std::pow(10000.0, static_cast<double>(i - i % 2) / static_cast<double>(dim));
        t.f[static_cast<size_t>(p * dim + i)] = static_cast<float>(i % 2 ? std::cos(angle) : std::sin(angle));
      }
    return t;
  }

  // The windows of a 1-D convolution: position t, tap k reads source row t*stride + k - padding.
  struct Window {
    int64_t kernel, stride, padding;
    explicit Window(const Attrs& a) : kernel(a.i("kernel")), stride(a.i("stride", 1)), padding(a.i("padding", 0)) {}
    int64_t source(int64_t t, int64_t k) const { return t * stride + k - padding; }
  };

  Tensor conv1d(const Node& n) {
    const Tensor& x = in(n, 0);
    const Tensor& w = in(n, 1);
    const Tensor& bias = in(n, 2);
    Attrs a = n.attrs;
    Window win(a.set("kernel", w.shape[0]));
    int64_t nb = x.shape[0], len = x.shape[1], cin = x.shape[2], cout = w.shape[2];
    Tensor t = f32(concrete(n.shape, batch, n.loc));
    int64_t outLen = t.shape[1];
    for (int64_t b = 0; b < nb; ++b)
      for (int64_t o = 0; o < outLen; ++o)
        for (int64_t co = 0; co < cout; ++co) {
          double acc = bias.f[static_cast<size_t>(co)];
          for (int64_t k = 0; k < win.kernel; ++k) {
            int64_t src = win.source(o, k);
            if (src < 0 || src >= len) continue;
            for (int64_t c = 0; c < cin; ++c)
              acc += static_cast<double>(x.f[static_cast<size_t>((b * len + src) * cin + c)]) *
                     w.f[static_cast<size_t>((k * cin + c) * cout + co)];
          }
          t.f[static_cast<size_t>((b * outLen + o) * cout + co)] = static_cast<float>(acc);
        }
    return t;
  }

  // unfold1d (fold = false): out[b,t,k*C+c] = x[b, src, c]; fold1d: out[b, src, c] += x[b,t,k*C+c].
  Tensor unfold(const Node& n, const Tensor& x, bool fold) {
    Window win(n.attrs);
    Tensor t = f32(concrete(n.shape, batch, n.loc));
    const Dims& seq = fold ? t.shape : x.shape;   // [N, T, C]
    const Dims& cols = fold ? x.shape : t.shape;  // [N, T', K*C]
    int64_t nb = seq[0], len = seq[1], ch = seq[2], outLen = cols[1];
    std::vector<double> acc(fold ? t.f.size() : 0, 0.0);
    for (int64_t b = 0; b < nb; ++b)
      for (int64_t o = 0; o < outLen; ++o)
        for (int64_t k = 0; k < win.kernel; ++k) {
          int64_t src = win.source(o, k);
          if (src < 0 || src >= len) continue;
          for (int64_t c = 0; c < ch; ++c) {
            auto si = static_cast<size_t>((b * len + src) * ch + c);
            auto ci = static_cast<size_t>((b * outLen + o) * win.kernel * ch + k * ch + c);
            if (fold) acc[si] += x.f[ci];
            else t.f[ci] = x.f[si];
          }
        }
    if (fold) std::transform(acc.begin(), acc.end(), t.f.begin(), [](double v) { return static_cast<float>(v); });
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
        const auto p = static_cast<size_t>(tn.attrs.i("index"));
        std::copy(row, row + dim, state.values[p].begin() + id * rowStride(g.params[p]));
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
    const int64_t stored = product(t.shape) * (idx < g.params.size() && g.params[idx].rowRecords ? 3 : 1);
    if (idx >= state.values.size() || static_cast<int64_t>(state.values[idx].size()) != stored)
      throw DiagError(n.loc, "evaluator: parameter " + std::to_string(idx) + " is not initialised");
    t.f = denseParam(g, state, idx, 0);
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

  // The gradient sum_k scatter_add(ids_k, g_k) of the touched rows (in double, rounded once),
  // then the optimizer step: SGD on the whole table (untouched rows see a zero gradient, as in
  // the dense step), Adam/AdamW on each touched row alone (lazy: other rows keep p, m, v).
  void sparseUpdate(const Node& n) {
    auto idx = static_cast<size_t>(n.attrs.i("index"));
    auto& p = state.values.at(idx);
    const Dims shape = concrete(g.params.at(idx).shape, batch, n.loc);
    const int64_t rows = shape[0], dim = shape[1];
    std::map<int64_t, std::vector<double>> acc;
    for (size_t k = 1; k + 1 < n.inputs.size(); k += 2) {
      const Tensor& ids = in(n, k);
      const Tensor& rowsGrad = in(n, k + 1);
      for (size_t i = 0; i < ids.i.size(); ++i) {
        checkId(n, ids.i[i], rows);
        std::vector<double>& row = acc[ids.i[i]];
        row.resize(static_cast<size_t>(dim), 0.0);
        for (int64_t d = 0; d < dim; ++d) row[static_cast<size_t>(d)] += rowsGrad.f[i * static_cast<size_t>(dim) + static_cast<size_t>(d)];
      }
    }
    const int64_t stride = rowStride(g.params[idx]);
    if (!g.params[idx].rowRecords) {
      state.m.resize(state.values.size());
      state.v.resize(state.values.size());
      state.m[idx].resize(p.size(), 0.0f);
      state.v[idx].resize(p.size(), 0.0f);
    }
    if (state.opt.kind == 0) {  // every row: one step, rows read with its stride
      std::vector<float> gr(static_cast<size_t>(dim));
      for (int64_t row0 = 0; row0 < rows; ++row0) {
        auto it = acc.find(row0);
        for (int64_t d = 0; d < dim; ++d)
          gr[static_cast<size_t>(d)] = it == acc.end() ? 0.0f : static_cast<float>(it->second[static_cast<size_t>(d)]);
        recc_rt_update_f32(&state.opt, p.data() + row0 * stride, gr.data(), nullptr, nullptr, dim);
      }
      return;
    }
    float* m = momentData(g, state, idx, 1);
    float* v = momentData(g, state, idx, 2);
    std::vector<float> gr(static_cast<size_t>(dim));
    for (auto& [row0, row] : acc) {
      std::transform(row.begin(), row.end(), gr.begin(), [](double x) { return static_cast<float>(x); });
      const int64_t at = row0 * stride;
      recc_rt_update_f32(&state.opt, p.data() + at, gr.data(), m + at, v + at, dim);
    }
  }

  Tensor node(const Node& n) {
    const OpClass cls = opInfo(n.op).cls;
    if (n.op == OpKind::PadMask) return padMask(n, in(n, 0));
    if (n.op == OpKind::Dropout) return dropout(n, in(n, 0));
    if (cls == OpClass::Elementwise) {
      Tensor t = f32(concrete(n.shape, batch, n.loc));
      const Tensor& a = in(n, 0);
      Dims sa = broadcastStrides(a.shape, t.shape);
      if (n.inputs.size() == 1) {
        for (int64_t i = 0; i < t.size(); ++i)
          t.f[static_cast<size_t>(i)] = static_cast<float>(unary(n, a.f[static_cast<size_t>(offsetOf(i, t.shape, sa))]));
        return t;
      }
      const Tensor& b = in(n, 1);
      Dims sb = broadcastStrides(b.shape, t.shape);
      for (int64_t i = 0; i < t.size(); ++i)
        t.f[static_cast<size_t>(i)] = static_cast<float>(binary(n, a.f[static_cast<size_t>(offsetOf(i, t.shape, sa))],
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
      case OpKind::Max: return reduceMax(n, in(n, 0));
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
      case OpKind::ShardSum: return in(n, 0);  // the whole batch is one shard
      case OpKind::Reshape: {
        Tensor t = in(n, 0);
        t.shape = concrete(n.shape, batch, n.loc);
        return t;
      }
      case OpKind::Concat: return concat(n);
      case OpKind::Slice: return slice(n, in(n, 0));
      case OpKind::MatMul: return matmul(n, in(n, 0), in(n, 1));
      case OpKind::BatchMatMul: return batchMatmul(n, in(n, 0), in(n, 1));
      case OpKind::Transpose: return transpose(n, in(n, 0));
      case OpKind::OneHot: return oneHot(n, in(n, 0));
      case OpKind::Softmax: return softmax(n, in(n, 0), false);
      case OpKind::LogSoftmax: return softmax(n, in(n, 0), true);
      case OpKind::LayerNorm: return layerNorm(n);
      case OpKind::BatchMoments: return batchMoments(n);
      case OpKind::CrossEntropy: return crossEntropy(n);
      case OpKind::PositionalEncoding: return positionalEncoding(n);
      case OpKind::Conv1d: return conv1d(n);
      case OpKind::Unfold1d: return unfold(n, in(n, 0), false);
      case OpKind::Fold1d: return unfold(n, in(n, 0), true);
      case OpKind::Gather: return gather(n);
      case OpKind::ScatterAdd: return scatterAdd(n);
      case OpKind::Update: update(n); return Tensor{};
      case OpKind::SparseUpdate: sparseUpdate(n); return Tensor{};
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
