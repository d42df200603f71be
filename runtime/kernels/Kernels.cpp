// The Eigen-backed runtime kernels called by JIT-compiled code: matmul, gather, scatter_add.
// Each splits its work over the threads of runtime/kernels/Parallel.h with a static partition:
// disjoint output blocks, or (for long contractions) per-chunk partial products added in chunk
// order, so a fixed thread count always gives the same bits.
#include "runtime/kernels/Kernels.h"

#include <malloc.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <vector>

#include "runtime/kernels/Parallel.h"

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

// Eigen's GEMM allocates its packing workspace (up to megabytes) in every product; with glibc's
// default policy such blocks go back to the kernel when freed (mmap threshold, heap trimming),
// so each product page-faults its workspace in again: a tenth of a training step. The runtime
// keeps freed memory in the process instead (the settings bench/run gives both frameworks).
const bool kMallocKeepsMemory = [] {
  mallopt(M_MMAP_THRESHOLD, 32 << 20);
  mallopt(M_TRIM_THRESHOLD, 1 << 30);
  mallopt(M_TOP_PAD, 64 << 20);
  return true;
}();

/// c (rr x cc) = op(A)[r0:r0+rr, k0:k0+kk] x op(B)[k0:k0+kk, c0:c0+cc].
template <class Dst>
void product(Dst&& c, const ConstMap& am, const ConstMap& bm, bool ta, bool tb, int64_t r0, int64_t rr,
             int64_t c0, int64_t cc, int64_t k0, int64_t kk) {
  auto a = am.block(ta ? k0 : r0, ta ? r0 : k0, ta ? kk : rr, ta ? rr : kk);
  auto b = bm.block(tb ? c0 : k0, tb ? k0 : c0, tb ? cc : kk, tb ? kk : cc);
  if (!ta && !tb) c.noalias() = a * b;
  else if (ta && !tb) c.noalias() = a.transpose() * b;
  else if (!ta && tb) c.noalias() = a * b.transpose();
  else c.noalias() = a.transpose() * b.transpose();
}

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
  const double work = 2.0 * static_cast<double>(m) * static_cast<double>(n) * static_cast<double>(k);
  // A long contraction into a small result (weight gradients: K = rows of the batch): each chunk
  // multiplies a slice of K into its own partial result, added up in chunk order.
  if (k >= 4 * std::max(m, n) && m * n <= (int64_t{1} << 16)) {
    const int chunks = recc::chunksFor(k, work);
    if (chunks > 1) {
      thread_local std::vector<float> partial;
      partial.resize(static_cast<size_t>((chunks - 1) * m * n));
      float* parts = partial.data();
      recc::parallelFor(k, work, [&](int chunk, int64_t lo, int64_t hi) {
        if (chunk == 0) product(c, am, bm, ta, tb, 0, m, 0, n, lo, hi - lo);
        else product(MutMap(parts + (chunk - 1) * m * n, m, n), am, bm, ta, tb, 0, m, 0, n, lo, hi - lo);
      });
      for (int p = 0; p + 1 < chunks; ++p) c += MutMap(parts + p * m * n, m, n);
      return;
    }
  }
  // Otherwise split the larger side of the result into disjoint blocks.
  if (m >= n) {
    recc::parallelFor(m, work, [&](int, int64_t lo, int64_t hi) {
      product(c.middleRows(lo, hi - lo), am, bm, ta, tb, lo, hi - lo, 0, n, 0, k);
    });
  } else {
    recc::parallelFor(n, work, [&](int, int64_t lo, int64_t hi) {
      product(c.middleCols(lo, hi - lo), am, bm, ta, tb, 0, m, lo, hi - lo, 0, k);
    });
  }
}

void recc_rt_gather_f32(float* out, float* table, const int32_t* ids, int64_t count, int64_t dim,
                        int64_t rows, float max_norm) {
  (void)rows;  // ids are validated by the data loader; rows is kept for debugging builds
  const size_t rowBytes = static_cast<size_t>(dim) * sizeof(float);
  if (max_norm > 0) {  // serial: a repeated id must be renormalised once, before it is copied
    for (int64_t i = 0; i < count; ++i) {
      float* row = table + static_cast<int64_t>(ids[i]) * dim;
      // PyTorch's embedding_renorm_: rows above max_norm are scaled in place, with the
      // same 1e-7 guard, so that training sees (and updates) the renormalised row.
      MutRow r(row, dim);
      float norm = r.norm();
      if (norm > max_norm) r *= max_norm / (norm + 1e-7f);
      std::memcpy(out + i * dim, row, rowBytes);
    }
    return;
  }
  // Rows of a large table are cache (and TLB) misses: prefetch a few ids ahead so that they
  // overlap instead of arriving one by one.
  constexpr int64_t kAhead = 8;
  recc::parallelFor(count, static_cast<double>(count * dim) * 2, [&](int, int64_t lo, int64_t hi) {
    for (int64_t i = lo; i < hi; ++i) {
      if (i + kAhead < hi) {
        const float* next = table + static_cast<int64_t>(ids[i + kAhead]) * dim;
        for (int64_t off = 0; off < dim; off += 16) __builtin_prefetch(next + off);
      }
      std::memcpy(out + i * dim, table + static_cast<int64_t>(ids[i]) * dim, rowBytes);
    }
  });
}

void recc_rt_scatter_add_f32(float* out, const int32_t* ids, const float* g, int64_t count,
                             int64_t dim, int64_t rows) {
  // Chunks own column ranges (every row): repeated ids never race and sum in order.
  recc::parallelFor(dim, static_cast<double>(rows * dim + count * dim), [&](int, int64_t lo, int64_t hi) {
    const int64_t w = hi - lo;
    if (w == dim) {
      std::memset(out, 0, static_cast<size_t>(rows * dim) * sizeof(float));
    } else {
      for (int64_t r = 0; r < rows; ++r) std::memset(out + r * dim + lo, 0, static_cast<size_t>(w) * sizeof(float));
    }
    for (int64_t i = 0; i < count; ++i)
      MutRow(out + static_cast<int64_t>(ids[i]) * dim + lo, w) += ConstRow(g + i * dim + lo, w);
  });
}

}  // extern "C"
