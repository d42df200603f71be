// The Eigen-backed runtime kernels called by JIT-compiled code: matmul, gather, scatter_add.
#include "runtime/kernels/Kernels.h"

#include <cmath>
#include <cstring>

// GCC 12 reports a false -Wmaybe-uninitialized inside its own AVX-512 intrinsics when Eigen's
// products are inlined with -march=native; the warning is in the compiler's header, not here.
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#pragma GCC diagnostic ignored "-Wuninitialized"  // the same, at -O1 / with sanitizers
#include <Eigen/Core>

namespace {

using RowMajor = Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
using ConstMap = Eigen::Map<const RowMajor>;
using MutMap = Eigen::Map<RowMajor>;
using ConstRow = Eigen::Map<const Eigen::VectorXf>;
using MutRow = Eigen::Map<Eigen::VectorXf>;

}  // namespace

extern "C" {

void recc_rt_matmul_f32(float* out, const float* a, const float* b, int64_t m, int64_t n,
                        int64_t k, int32_t ta, int32_t tb) {
  MutMap c(out, m, n);
  if (k == 0) {  // an empty inner dimension: the product is all zeros
    c.setZero();
    return;
  }
  // Stored shapes: a is [M,K] or, transposed, [K,M]; b is [K,N] or [N,K].
  ConstMap am(a, ta ? k : m, ta ? m : k);
  ConstMap bm(b, tb ? n : k, tb ? k : n);
  if (!ta && !tb) c.noalias() = am * bm;
  else if (ta && !tb) c.noalias() = am.transpose() * bm;
  else if (!ta && tb) c.noalias() = am * bm.transpose();
  else c.noalias() = am.transpose() * bm.transpose();
}

void recc_rt_gather_f32(float* out, float* table, const int32_t* ids, int64_t count, int64_t dim,
                        int64_t rows, float max_norm) {
  (void)rows;  // ids are validated by the data loader; rows is kept for debugging builds
  for (int64_t i = 0; i < count; ++i) {
    float* row = table + static_cast<int64_t>(ids[i]) * dim;
    if (max_norm > 0) {
      // PyTorch's embedding_renorm_: rows above max_norm are scaled in place, with the
      // same 1e-7 guard, so that training sees (and updates) the renormalised row.
      MutRow r(row, dim);
      float norm = r.norm();
      if (norm > max_norm) r *= max_norm / (norm + 1e-7f);
    }
    std::memcpy(out + i * dim, row, static_cast<size_t>(dim) * sizeof(float));
  }
}

void recc_rt_scatter_add_f32(float* out, const int32_t* ids, const float* g, int64_t count,
                             int64_t dim, int64_t rows) {
  std::memset(out, 0, static_cast<size_t>(rows * dim) * sizeof(float));
  for (int64_t i = 0; i < count; ++i)
    MutRow(out + static_cast<int64_t>(ids[i]) * dim, dim) += ConstRow(g + i * dim, dim);
}

}  // extern "C"
