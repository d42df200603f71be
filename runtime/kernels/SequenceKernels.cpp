// Kernels of the sequence / attention / CNN ops: batched matmul, softmax, layer and batch norm,
// cross-entropy, positional encoding, and 1-D convolution (im2col + one Eigen GEMM).
// Reductions accumulate in double, like the reference evaluator they are checked against.
#include <algorithm>
#include <cmath>
#include <cstring>
#include <vector>

#include "runtime/kernels/Kernels.h"

// See Kernels.cpp: a false positive inside GCC's AVX-512 headers when Eigen products inline.
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#pragma GCC diagnostic ignored "-Wuninitialized"  // the same, at -O1 / with sanitizers
#include <Eigen/Core>

namespace {

using RowMajor = Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
using ConstMap = Eigen::Map<const RowMajor>;
using MutMap = Eigen::Map<RowMajor>;

/// Source row of window position t, tap k; outside [0, len) reads a zero (padding).
inline int64_t source(int64_t t, int64_t k, int64_t stride, int64_t padding) {
  return t * stride + k - padding;
}

}  // namespace

extern "C" {

void recc_rt_batch_matmul_f32(float* out, const float* a, const float* b, int64_t batch, int64_t m,
                              int64_t n, int64_t k, int32_t ta, int32_t tb, int64_t stride_a,
                              int64_t stride_b) {
  for (int64_t l = 0; l < batch; ++l)
    recc_rt_matmul_f32(out + l * m * n, a + l * stride_a, b + l * stride_b, m, n, k, ta, tb);
}

void recc_rt_softmax_f32(float* out, const float* x, int64_t outer, int64_t len, int64_t inner,
                         int32_t log) {
  for (int64_t o = 0; o < outer; ++o)
    for (int64_t j = 0; j < inner; ++j) {
      const float* xs = x + o * len * inner + j;
      float* ys = out + o * len * inner + j;
      // Max-subtracted: a row of -1e9 (fully masked) becomes exp(0) = 1 everywhere: uniform.
      float mx = -INFINITY;
      for (int64_t q = 0; q < len; ++q) mx = std::max(mx, xs[q * inner]);
      double sum = 0;
      for (int64_t q = 0; q < len; ++q) sum += std::exp(static_cast<double>(xs[q * inner]) - mx);
      if (log) {
        const double shift = mx + std::log(sum);
        for (int64_t q = 0; q < len; ++q) ys[q * inner] = static_cast<float>(xs[q * inner] - shift);
      } else {
        for (int64_t q = 0; q < len; ++q)
          ys[q * inner] = static_cast<float>(std::exp(static_cast<double>(xs[q * inner]) - mx) / sum);
      }
    }
}

void recc_rt_layer_norm_f32(float* out, const float* x, const float* gamma, const float* beta,
                            int64_t rows, int64_t dim, float eps) {
  for (int64_t r = 0; r < rows; ++r) {
    const float* xr = x + r * dim;
    float* yr = out + r * dim;
    double mean = 0, var = 0;
    for (int64_t d = 0; d < dim; ++d) mean += xr[d];
    mean /= static_cast<double>(dim);
    for (int64_t d = 0; d < dim; ++d) var += (xr[d] - mean) * (xr[d] - mean);
    var /= static_cast<double>(dim);
    const double rstd = 1 / std::sqrt(var + static_cast<double>(eps));
    for (int64_t d = 0; d < dim; ++d)
      yr[d] = static_cast<float>((xr[d] - mean) * rstd * gamma[d] + beta[d]);
  }
}

void recc_rt_batch_norm_f32(float* out, const float* x, const float* gamma, const float* beta,
                            float* running_mean, float* running_var, int64_t rows, int64_t dim,
                            float eps, float momentum) {
  std::vector<double> mean(static_cast<size_t>(dim), 0.0), var(static_cast<size_t>(dim), 0.0);
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t d = 0; d < dim; ++d) mean[static_cast<size_t>(d)] += x[r * dim + d];
  for (double& m : mean) m /= static_cast<double>(rows);
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t d = 0; d < dim; ++d) {
      double c = x[r * dim + d] - mean[static_cast<size_t>(d)];
      var[static_cast<size_t>(d)] += c * c;
    }
  std::vector<double> rstd(static_cast<size_t>(dim));
  for (int64_t d = 0; d < dim; ++d) {
    auto i = static_cast<size_t>(d);
    double unbiased = rows > 1 ? var[i] / static_cast<double>(rows - 1) : var[i];
    var[i] /= static_cast<double>(rows);
    rstd[i] = 1 / std::sqrt(var[i] + static_cast<double>(eps));
    // In place, like Gather's max_norm: the params hold the updated statistics after the call.
    const double mo = momentum;
    running_mean[d] = static_cast<float>((1 - mo) * running_mean[d] + mo * mean[i]);
    running_var[d] = static_cast<float>((1 - mo) * running_var[d] + mo * unbiased);
  }
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t d = 0; d < dim; ++d) {
      auto i = static_cast<size_t>(d);
      out[r * dim + d] = static_cast<float>((x[r * dim + d] - mean[i]) * rstd[i] * gamma[d] + beta[d]);
    }
}

void recc_rt_cross_entropy_f32(float* out, const float* logits, const int32_t* target, int64_t rows,
                               int64_t classes, int32_t ignore_index) {
  for (int64_t r = 0; r < rows; ++r) {
    const int32_t t = target[r];
    if (t == ignore_index || t < 0 || t >= classes) {
      out[r] = 0;
      continue;
    }
    const float* z = logits + r * classes;
    float mx = *std::max_element(z, z + classes);
    double sum = 0;
    for (int64_t c = 0; c < classes; ++c) sum += std::exp(static_cast<double>(z[c]) - mx);
    out[r] = static_cast<float>(mx + std::log(sum) - z[t]);
  }
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
  if (depth == 0) y.setZero();
  else y.noalias() = ConstMap(cols.data(), rows, depth) * ConstMap(w, depth, cout);
  y.rowwise() += Eigen::Map<const Eigen::RowVectorXf>(bias, cout);
}

}  // extern "C"
