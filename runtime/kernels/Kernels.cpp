// The runtime kernels called by JIT-compiled code: matmul (recc's tiled kernel of Gemm.h, or
// Eigen's product), gather, scatter_add.
// Each splits its work over the threads of runtime/kernels/Parallel.h with a static partition:
// disjoint output blocks, or (for long contractions) per-chunk partial products added in chunk
// order, so a fixed thread count always gives the same bits.
#include "runtime/kernels/Kernels.h"

#include <malloc.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <vector>

#include "runtime/kernels/Gemm.h"
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

using StridedMut = Eigen::Map<RowMajor, 0, Eigen::OuterStride<>>;

/// The operands of recc_rt_matmul_f32: a is [M,K] or, transposed, [K,M]; b is [K,N] or [N,K].
struct Operands {
  const float* a;
  const float* b;
  int64_t m, n, k;
  bool ta, tb;
  bool tiled;  // recc::gemm, chosen for the whole product so that every block sums alike
};

/// out[0, n) += g[0, n), for rows too short for Eigen's vectorised Map to pay its setup. The
/// rows never overlap (a table's and a gradient's), which lets the loop vectorise.
inline void addNarrowRow(float* __restrict__ out, const float* __restrict__ g, int64_t n) {
  for (int64_t d = 0; d < n; ++d) out[d] += g[d];
}

/// c (rr x cc, row stride ldc) = op(A)[r0:r0+rr, k0:k0+kk] x op(B)[k0:k0+kk, c0:c0+cc].
void product(float* c, int64_t ldc, const Operands& o, int64_t r0, int64_t rr, int64_t c0, int64_t cc,
             int64_t k0, int64_t kk) {
  if (o.tiled) {
    // The block of op(A) and op(B), as strided views of the stored matrices.
    recc::StridedView a = recc::operandView(o.a, o.m, o.k, o.ta), b = recc::operandView(o.b, o.k, o.n, o.tb);
    a.data += r0 * a.rowStride + k0 * a.colStride;
    b.data += k0 * b.rowStride + c0 * b.colStride;
    recc::gemm(c, ldc, a, b, rr, cc, kk);
    return;
  }
  StridedMut out(c, rr, cc, Eigen::OuterStride<>(ldc));
  const ConstMap am(o.a, o.ta ? o.k : o.m, o.ta ? o.m : o.k);
  const ConstMap bm(o.b, o.tb ? o.n : o.k, o.tb ? o.k : o.n);
  auto a = am.block(o.ta ? k0 : r0, o.ta ? r0 : k0, o.ta ? kk : rr, o.ta ? rr : kk);
  auto b = bm.block(o.tb ? c0 : k0, o.tb ? k0 : c0, o.tb ? cc : kk, o.tb ? kk : cc);
  if (!o.ta && !o.tb) out.noalias() = a * b;
  else if (o.ta && !o.tb) out.noalias() = a.transpose() * b;
  else if (!o.ta && o.tb) out.noalias() = a * b.transpose();
  else out.noalias() = a.transpose() * b.transpose();
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
  const Operands o{a, b, m, n, k, ta != 0, tb != 0, recc::gemmHandles(m, n, k)};
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
        product(chunk == 0 ? out : parts + (chunk - 1) * m * n, n, o, 0, m, 0, n, lo, hi - lo);
      });
      for (int p = 0; p + 1 < chunks; ++p) c += MutMap(parts + p * m * n, m, n);
      return;
    }
  }
  // Otherwise split the larger side of the result into disjoint blocks.
  if (m >= n) {
    recc::parallelFor(m, work, [&](int, int64_t lo, int64_t hi) { product(out + lo * n, n, o, lo, hi - lo, 0, n, 0, k); });
  } else {
    recc::parallelFor(n, work, [&](int, int64_t lo, int64_t hi) { product(out + lo, n, o, 0, m, lo, hi - lo, 0, k); });
  }
}

void recc_rt_gather_f32(float* out, float* table, const int32_t* ids, int64_t count, int64_t dim,
                        int64_t stride, int64_t rows, float max_norm) {
  (void)rows;  // ids are validated by the data loader; rows is kept for debugging builds
  const size_t rowBytes = static_cast<size_t>(dim) * sizeof(float);
  if (max_norm > 0) {  // serial: a repeated id must be renormalised once, before it is copied
    for (int64_t i = 0; i < count; ++i) {
      float* row = table + static_cast<int64_t>(ids[i]) * stride;
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
  // overlap instead of arriving one by one. A row record's moments are on the row's page:
  // fetched now, they cost no page walk, and the step's update finds them in cache.
  constexpr int64_t kAhead = 8;
  recc::parallelFor(count, static_cast<double>(count * dim) * 2, [&](int, int64_t lo, int64_t hi) {
    for (int64_t i = lo; i < hi; ++i) {
      if (i + kAhead < hi) {
        const float* next = table + static_cast<int64_t>(ids[i + kAhead]) * stride;
        for (int64_t off = 0; off < stride; off += 16) __builtin_prefetch(next + off);
      }
      std::memcpy(out + i * dim, table + static_cast<int64_t>(ids[i]) * stride, rowBytes);
    }
  });
}

void recc_rt_scatter_add_f32(float* out, const int32_t* ids, const float* g, int64_t count,
                             int64_t dim, int64_t rows, int64_t repeat) {
  // Chunks own row ranges of the result: each zeroes its rows in one block and adds, in order,
  // the gradients of the ids that fall in them (every chunk reads all ids; an id is a compare).
  // Repeated ids never race and sum in the same order for any partition.
  recc::parallelFor(rows, static_cast<double>(rows * dim + count * dim), [&](int, int64_t lo, int64_t hi) {
    std::memset(out + lo * dim, 0, static_cast<size_t>((hi - lo) * dim) * sizeof(float));
    // Every gradient row k (of ids [i, i + repeat)) to the rows of its ids in [lo, hi).
    auto each = [&](auto add) {
      for (int64_t i = 0, k = 0; i < count; i += repeat, ++k)
        for (int64_t j = i; j < i + repeat; ++j)
          if (ids[j] >= lo && ids[j] < hi) add(int64_t{ids[j]}, k);
    };
    // Rows narrower than a vector are added by plain loops: an Eigen Map's setup per id costs
    // more than the adds (2 threads, a [8919, dim] table, 21,504 ids, us a call: dim 1 111 ->
    // 18-31, dim 4 125-174 -> 124-138, dim 8 226-234 -> 106-114, dim 12 320 -> 107-119; at 16
    // about even, and from 24 on the Map is faster).
    if (dim == 1)  // a per-id bias
      each([&](int64_t r, int64_t k) { out[r] += g[k]; });
    else if (dim < 16)
      each([&](int64_t r, int64_t k) { addNarrowRow(out + r * dim, g + k * dim, dim); });
    else
      each([&](int64_t r, int64_t k) { MutRow(out + r * dim, dim) += ConstRow(g + k * dim, dim); });
  });
}

}  // extern "C"
