// Kernels of the sequence / attention / CNN ops: batched matmul, softmax, layer and batch norm,
// cross-entropy, positional encoding, and 1-D convolution (im2col + one Eigen GEMM).
// Statistics and softmax sums accumulate in a fixed order per row: over kLanes float lanes
// combined in double, which vectorises (a softmax along an inner axis: in double, in order).
// Elementwise parts are plain loops (the compiler vectorises them, exp included: FastMath.h).
// So a result never depends on a buffer's alignment or on where a thread's chunk starts. Every
// kernel splits rows (or columns) over the threads of Parallel.h.
#include <algorithm>
#include <cmath>
#include <cstring>
#include <vector>

#include "runtime/kernels/FastMath.h"
#include "runtime/kernels/Gemm.h"
#include "runtime/kernels/Kernels.h"
#include "runtime/kernels/Parallel.h"
#include "runtime/kernels/Shards.h"

// See Kernels.cpp: a false positive inside GCC's AVX-512 headers when Eigen products inline.
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#pragma GCC diagnostic ignored "-Wuninitialized"  // the same, at -O1 / with sanitizers
#include <Eigen/Core>

namespace {

using RowMajor = Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
using MutMap = Eigen::Map<RowMajor>;

/// Source row of window position t, tap k; outside [0, len) reads a zero (padding).
inline int64_t source(int64_t t, int64_t k, int64_t stride, int64_t padding) {
  return t * stride + k - padding;
}

/// Lanes of layer norm's row sums: one AVX2 register. On Zen 3, 21504 rows of 32: 0.34 ms with
/// 8 lanes, 0.46 with 16, 0.63 summing in double, in order.
constexpr int64_t kLanes = 8;

/// Sum over a contiguous row of f(x[d]) in kLanes float lanes (the tail in lane order), the
/// lanes then added in order in double.
template <typename F>
double laneSum(const float* x, int64_t len, F f) {
  float lanes[kLanes] = {};
  const int64_t body = len - len % kLanes;
  for (int64_t q = 0; q < body; q += kLanes)
    for (int64_t l = 0; l < kLanes; ++l) lanes[l] += f(x[q + l]);
  for (int64_t q = body; q < len; ++q) lanes[q - body] += f(x[q]);
  double s = 0;
  for (int64_t l = 0; l < kLanes; ++l) s += lanes[l];
  return s;
}

/// Softmax (or log-softmax) of one contiguous row (y may be x) in loops that vectorise, the sum
/// over kLanes lanes (laneSum). BST's attention rows (21 long) took twice as long one strided
/// element at a time: 150 against 75 ns on Zen 3.
void softmaxRow(float* y, const float* x, int64_t len, bool log) {
  float lanes[kLanes];  // the max, exact in any order
  std::fill(lanes, lanes + kLanes, -INFINITY);
  const int64_t body = len - len % kLanes;
  for (int64_t q = 0; q < body; q += kLanes)
    for (int64_t l = 0; l < kLanes; ++l) lanes[l] = std::max(lanes[l], x[q + l]);
  float mx = *std::max_element(lanes, lanes + kLanes);
  for (int64_t q = body; q < len; ++q) mx = std::max(mx, x[q]);
  if (log) {  // x - mx first, then - log(sum): exact even for -1e9 rows
    const auto ls = static_cast<float>(std::log(laneSum(x, len, [mx](float v) { return recc::fastExp(v - mx); })));
    for (int64_t q = 0; q < len; ++q) y[q] = (x[q] - mx) - ls;
    return;
  }
  for (int64_t q = 0; q < len; ++q) y[q] = recc::fastExp(x[q] - mx);
  const auto inv = static_cast<float>(1.0 / laneSum(y, len, [](float v) { return v; }));
  for (int64_t q = 0; q < len; ++q) y[q] *= inv;
}

}  // namespace

extern "C" {

void recc_rt_batch_matmul_f32(float* out, const float* a, const float* b, int64_t batch, int64_t m,
                              int64_t n, int64_t k, int32_t ta, int32_t tb, int64_t stride_a,
                              int64_t stride_b) {
  // Large products (or the tiled kernel off): a whole matmul per item, itself split
  // over the threads when big. Small ones (attention: T x d x T) go one item per thread.
  if (!recc::gemmEnabled() || m * n * k >= 64 * 64 * 64) {
    for (int64_t l = 0; l < batch; ++l)
      recc_rt_matmul_f32(out + l * m * n, a + l * stride_a, b + l * stride_b, m, n, k, ta, tb);
    return;
  }
  const double flops = 2.0 * static_cast<double>(m * n * k);
  recc::parallelFor(batch, flops * static_cast<double>(batch), [&](int, int64_t lo, int64_t hi) {
    for (int64_t l = lo; l < hi; ++l)
      recc::gemm(out + l * m * n, n, recc::operandView(a + l * stride_a, m, k, ta != 0),
                 recc::operandView(b + l * stride_b, k, n, tb != 0), m, n, k);
  });
}

void recc_rt_softmax_f32(float* out, const float* x, int64_t outer, int64_t len, int64_t inner,
                         int32_t log) {
  const double work = 20.0 * static_cast<double>(outer * len * inner);
  if (inner == 1) {  // rows along the last axis (attention's): contiguous
    recc::parallelFor(outer, work, [&](int, int64_t lo, int64_t hi) {
      for (int64_t r = lo; r < hi; ++r) softmaxRow(out + r * len, x + r * len, len, log != 0);
    });
    return;
  }
  recc::parallelFor(outer * inner, work, [&](int, int64_t lo, int64_t hi) {
    thread_local std::vector<float> scratch;
    scratch.resize(static_cast<size_t>(len));
    float* e = scratch.data();
    for (int64_t r = lo; r < hi; ++r) {
      const int64_t o = r / inner, j = r % inner;
      const float* xs = x + o * len * inner + j;
      float* ys = out + o * len * inner + j;
      // Max-subtracted: a row of -1e9 (fully masked) becomes exp(0) = 1 everywhere: uniform.
      float mx = -INFINITY;
      for (int64_t q = 0; q < len; ++q) mx = std::max(mx, xs[q * inner]);
      for (int64_t q = 0; q < len; ++q) e[q] = recc::fastExp(xs[q * inner] - mx);
      double sum = 0;  // in order: the same bits whatever the chunking
      for (int64_t q = 0; q < len; ++q) sum += e[q];
      if (log) {  // x - mx first, then - log(sum): exact even for -1e9 rows
        const auto ls = static_cast<float>(std::log(sum));
        for (int64_t q = 0; q < len; ++q) ys[q * inner] = (xs[q * inner] - mx) - ls;
      } else {
        const auto inv = static_cast<float>(1.0 / sum);
        for (int64_t q = 0; q < len; ++q) ys[q * inner] = e[q] * inv;
      }
    }
  });
}

void recc_rt_layer_norm_f32(float* out, const float* x, const float* gamma, const float* beta,
                            int64_t rows, int64_t dim, float eps) {
  recc::parallelFor(rows, 8.0 * static_cast<double>(rows * dim), [&](int, int64_t lo, int64_t hi) {
    for (int64_t r = lo; r < hi; ++r) {
      const float* xr = x + r * dim;
      float* yr = out + r * dim;
      const auto m = static_cast<float>(laneSum(xr, dim, [](float v) { return v; }) / static_cast<double>(dim));
      // Two passes: the squares of deviations from the row's mean lose nothing to cancellation.
      const double sq = laneSum(xr, dim, [m](float v) { return (v - m) * (v - m); });
      const auto rstd = static_cast<float>(1 / std::sqrt(sq / static_cast<double>(dim) + static_cast<double>(eps)));
      for (int64_t d = 0; d < dim; ++d) yr[d] = (xr[d] - m) * rstd * gamma[d] + beta[d];
    }
  });
}

void recc_rt_batch_moments_f32(const ReccShard* shard, float* out, const float* x, float* running_mean,
                               float* running_var, int64_t rows, int64_t dim, float eps, float momentum) {
  // Columns [lo, hi): per-column sums of (x - s) and (x - s)^2 in double, one pass over x and
  // one meeting of the shards (whose sums make the whole batch's). The shift s is the running
  // mean as it was before this call (read before the shards meet; shard 0 writes it after),
  // which is close to the batch mean, so var = E[(x-s)^2] - E[x-s]^2 loses nothing to
  // cancellation.
  auto columns = [&](int64_t lo, int64_t hi) {
    const int64_t w = hi - lo;
    thread_local std::vector<double> local, total, shift;
    local.assign(static_cast<size_t>(2 * w + 1), 0.0);  // sums, sums of squares, the row count
    total.resize(static_cast<size_t>(2 * w + 1));
    shift.assign(running_mean + lo, running_mean + hi);
    double* __restrict__ sum = local.data();
    double* __restrict__ sq = sum + w;
    const double* __restrict__ s = shift.data();
    for (int64_t r = 0; r < rows; ++r) {
      const float* xr = x + r * dim + lo;
      for (int64_t d = 0; d < w; ++d) {
        const double c = xr[d] - s[d];
        sum[d] += c;
        sq[d] += c * c;
      }
    }
    local[static_cast<size_t>(2 * w)] = static_cast<double>(rows);
    recc::shardSum(shard, total.data(), local.data(), 2 * w + 1);
    const double n = total[static_cast<size_t>(2 * w)];
    const bool updates = !recc::sharded(shard) || shard->index == 0;  // the running stats once
    const double mo = momentum;
    for (int64_t d = 0; d < w; ++d) {
      const int64_t col = lo + d;
      const double dm = total[static_cast<size_t>(d)] / n;
      const double mean = s[d] + dm;
      const double var = std::max(0.0, total[static_cast<size_t>(w + d)] / n - dm * dm);  // biased
      const double unbiased = n > 1 ? var * n / (n - 1) : var;
      // In place, like Gather's max_norm: the params hold the updated statistics after the call.
      if (updates) {
        running_mean[col] = static_cast<float>((1 - mo) * running_mean[col] + mo * mean);
        running_var[col] = static_cast<float>((1 - mo) * running_var[col] + mo * unbiased);
      }
      out[col] = static_cast<float>(mean);
      out[dim + col] = static_cast<float>(1 / std::sqrt(var + static_cast<double>(eps)));
    }
  };
  // Whole: chunks own column ranges (no combining across chunks; the result does not depend on
  // the thread count). A shard is one thread already, and all shards must sum the same columns.
  if (recc::sharded(shard)) columns(0, dim);
  else recc::parallelFor(dim, 3.0 * static_cast<double>(rows * dim), [&](int, int64_t lo, int64_t hi) { columns(lo, hi); });
}

void recc_rt_cross_entropy_f32(float* out, const float* logits, const int32_t* target, int64_t rows,
                               int64_t classes, int32_t ignore_index) {
  recc::parallelFor(rows, 20.0 * static_cast<double>(rows * classes), [&](int, int64_t lo, int64_t hi) {
    for (int64_t r = lo; r < hi; ++r) {
      const int32_t t = target[r];
      if (t == ignore_index || t < 0 || t >= classes) {
        out[r] = 0;
        continue;
      }
      const float* z = logits + r * classes;
      const float mx = *std::max_element(z, z + classes);
      double sum = 0;
      for (int64_t c = 0; c < classes; ++c) sum += recc::fastExp(z[c] - mx);
      out[r] = static_cast<float>(static_cast<double>(mx - z[t]) + std::log(sum));
    }
  });
}

void recc_rt_positional_encoding_f32(float* out, int64_t length, int64_t dim) {
  for (int64_t p = 0; p < length; ++p)
    for (int64_t i = 0; i < dim; ++i) {
      double angle = static_cast<double>(p) /
                     std::pow(10000.0, static_cast<double>(i - i % 2) / static_cast<double>(dim));
      out[p * dim + i] = static_cast<float>(i % 2 ? std::cos(angle) : std::sin(angle));
    }
}

void recc_rt_unfold1d_f32(float* cols, const float* x, int64_t n, int64_t len, int64_t ch,
                          int64_t kernel, int64_t stride, int64_t padding, int64_t out_len) {
  const size_t rowBytes = static_cast<size_t>(ch) * sizeof(float);
  for (int64_t b = 0; b < n; ++b)
    for (int64_t t = 0; t < out_len; ++t)
      for (int64_t k = 0; k < kernel; ++k) {
        float* dst = cols + ((b * out_len + t) * kernel + k) * ch;
        int64_t src = source(t, k, stride, padding);
        if (src < 0 || src >= len) std::memset(dst, 0, rowBytes);
        else std::memcpy(dst, x + (b * len + src) * ch, rowBytes);
      }
}

void recc_rt_fold1d_f32(float* out, const float* cols, int64_t n, int64_t len, int64_t ch,
                        int64_t kernel, int64_t stride, int64_t padding, int64_t out_len) {
  std::memset(out, 0, static_cast<size_t>(n * len * ch) * sizeof(float));
  for (int64_t b = 0; b < n; ++b)
    for (int64_t t = 0; t < out_len; ++t)
      for (int64_t k = 0; k < kernel; ++k) {
        int64_t src = source(t, k, stride, padding);
        if (src < 0 || src >= len) continue;
        const float* c = cols + ((b * out_len + t) * kernel + k) * ch;
        float* dst = out + (b * len + src) * ch;
        for (int64_t q = 0; q < ch; ++q) dst[q] += c[q];
      }
}

void recc_rt_conv1d_f32(float* out, const float* x, const float* w, const float* bias, int64_t n,
                        int64_t len, int64_t cin, int64_t cout, int64_t kernel, int64_t stride,
                        int64_t padding, int64_t out_len) {
  // The column buffer is per thread and reused across calls: run() allocates nothing after
  // the first call at the largest size.
  thread_local std::vector<float> cols;
  const int64_t rows = n * out_len, depth = kernel * cin;
  cols.resize(static_cast<size_t>(rows * depth));
  recc_rt_unfold1d_f32(cols.data(), x, n, len, cin, kernel, stride, padding, out_len);
  MutMap y(out, rows, cout);
  recc_rt_matmul_f32(out, cols.data(), w, rows, cout, depth, 0, 0);
  y.rowwise() += Eigen::Map<const Eigen::RowVectorXf>(bias, cout);
}

}  // extern "C"
