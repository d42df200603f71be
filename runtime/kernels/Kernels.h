// The runtime's flat C ABI: library-grade kernels called by JIT-compiled code (one symbol per
// dtype, prefix recc_rt_). Implemented over Eigen maps. Registered explicitly into the JIT by
// compiler/codegen (kernelSymbols() below), so a missing kernel fails at JIT start-up.
#pragma once
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

extern "C" {

/// out[M,N] = op(a) x op(b); op(a) = a[M,K] (ta=0) or a[K,M]^T (ta=1); same for b with [K,N]/[N,K].
/// Row-major. Overwrites out.
void recc_rt_matmul_f32(float* out, const float* a, const float* b, int64_t m, int64_t n,
                        int64_t k, int32_t ta, int32_t tb);

/// out[i, :] = table[ids[i], :] for i < count; rows have `dim` floats. If max_norm > 0 the
/// looked-up rows of `table` are first rescaled in place to L2 norm <= max_norm (PyTorch's
/// Embedding(max_norm=...)). ids must be in [0, rows) (the data loader guarantees it).
void recc_rt_gather_f32(float* out, float* table, const int32_t* ids, int64_t count, int64_t dim,
                        int64_t rows, float max_norm);

/// out[rows, dim] = 0; out[ids[i], :] += g[i, :] for i < count.
void recc_rt_scatter_add_f32(float* out, const int32_t* ids, const float* g, int64_t count,
                             int64_t dim, int64_t rows);

/// Optimizer hyperparameters; `step` is the 1-based step number of the update being applied
/// (the driver increments it before each training step).
struct ReccOptimizer {
  int32_t kind;  // 0 = SGD, 1 = Adam, 2 = AdamW
  float lr, beta1, beta2, eps, weight_decay;
  int64_t step;
};

/// One optimizer step on n floats, PyTorch semantics:
///   SGD:   p -= lr * (g + wd * p)
///   Adam:  g' = g + wd * p; m = b1 m + (1-b1) g'; v = b2 v + (1-b2) g'^2;
///          p -= lr * (m / (1-b1^t)) / (sqrt(v / (1-b2^t)) + eps)
///   AdamW: p *= (1 - lr*wd); then Adam with g' = g.
/// m and v are unused by SGD (may be null).
void recc_rt_update_f32(const ReccOptimizer* opt, float* param, const float* grad, float* m,
                        float* v, int64_t n);
}

namespace recc {
/// (symbol name, address) of every recc_rt_ kernel, for explicit JIT registration.
std::vector<std::pair<std::string, void*>> kernelSymbols();
}  // namespace recc
