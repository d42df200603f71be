// The kernel of Gemm.h. B is copied, up to 64 columns and 512 rows at a time, into a zero-padded
// panel laid out [k][16 NV] (NV = the panel's 16-float vectors; contiguous, so the panel stays in
// L1/L2 while every row of A streams past it; the padding spares the inner loop masked loads,
// which on this CPU cost more than the product). A 6 x 64 tile of C lives in 24 zmm
// accumulators: per step p, 4 loads of the panel's row p and 6 broadcasts of a(i, p) feed 24
// FMAs. Long contractions (weight gradients over B*T rows) go in blocks of 512 steps, each
// added to C: every element is the same sequence of sums whatever block of rows or columns
// of the product is being computed.
#include "runtime/kernels/Gemm.h"

#include <algorithm>
#include <atomic>
#include <cstdlib>
#include <cstring>
#include <memory>

#if defined(__AVX512F__)
#include <immintrin.h>
#endif

namespace recc {

namespace {
std::atomic<bool> enabled{kHaveGemm};
}  // namespace

bool setGemmEnabled(bool on) { return enabled.exchange(on && kHaveGemm); }
bool gemmEnabled() { return enabled.load(std::memory_order_relaxed); }
bool gemmHandles(int64_t m, int64_t n, int64_t k) { return gemmEnabled() && n >= 16 && m >= 4 && k >= 8; }

#if defined(__AVX512F__)

namespace {

constexpr int64_t kPanel = 64;   // columns of B per packed panel: up to 4 zmm registers
constexpr int64_t kKBlock = 512;  // steps of the contraction per packed panel (128 KiB: L2)
constexpr int kRows = 6;          // rows of A per tile: 6 x 4 accumulators of the 32 zmm

/// One tile: rows [0, MR) of C, the panel's 16*NV columns (the last vector stored under
/// `lastMask`), over k steps; added to C's values if `accumulate`.
template <int MR, int NV>
void tile(float* c, int64_t ldc, const float* a, int64_t ai, int64_t ap, const float* panel, int64_t k,
          __mmask16 lastMask, bool accumulate) {
  __m512 acc[MR][NV];
  for (int i = 0; i < MR; ++i)
    for (int v = 0; v < NV; ++v) acc[i][v] = _mm512_setzero_ps();
  for (int64_t p = 0; p < k; ++p) {
    __m512 bv[NV];
    for (int v = 0; v < NV; ++v) bv[v] = _mm512_load_ps(panel + (p * NV + v) * 16);
    for (int i = 0; i < MR; ++i) {
      const __m512 av = _mm512_set1_ps(a[i * ai + p * ap]);
      for (int v = 0; v < NV; ++v) acc[i][v] = _mm512_fmadd_ps(av, bv[v], acc[i][v]);
    }
  }
  for (int i = 0; i < MR; ++i) {
    float* row = c + i * ldc;
    for (int v = 0; v + 1 < NV; ++v)
      _mm512_storeu_ps(row + 16 * v, accumulate ? _mm512_add_ps(acc[i][v], _mm512_loadu_ps(row + 16 * v)) : acc[i][v]);
    float* last = row + 16 * (NV - 1);
    const __m512 sum = accumulate ? _mm512_add_ps(acc[i][NV - 1], _mm512_maskz_loadu_ps(lastMask, last)) : acc[i][NV - 1];
    _mm512_mask_storeu_ps(last, lastMask, sum);
  }
}

template <int NV>
void rowsOfPanel(float* c, int64_t ldc, const float* a, int64_t ai, int64_t ap, const float* panel,
                 int64_t m, int64_t k, __mmask16 lastMask, bool accumulate) {
  int64_t i = 0;
  for (; i + kRows <= m; i += kRows)
    tile<kRows, NV>(c + i * ldc, ldc, a + i * ai, ai, ap, panel, k, lastMask, accumulate);
  float* cr = c + i * ldc;
  const float* ar = a + i * ai;
  switch (m - i) {
    case 5: tile<5, NV>(cr, ldc, ar, ai, ap, panel, k, lastMask, accumulate); break;
    case 4: tile<4, NV>(cr, ldc, ar, ai, ap, panel, k, lastMask, accumulate); break;
    case 3: tile<3, NV>(cr, ldc, ar, ai, ap, panel, k, lastMask, accumulate); break;
    case 2: tile<2, NV>(cr, ldc, ar, ai, ap, panel, k, lastMask, accumulate); break;
    case 1: tile<1, NV>(cr, ldc, ar, ai, ap, panel, k, lastMask, accumulate); break;
    default: break;
  }
}

/// Copies b's rows [p0, p0 + k) and columns [j0, j0 + w) into panel ([k][16 vectors], zero
/// beyond w): masked vector loads from a row-major b, element by element from a transposed one.
void pack(float* panel, StridedView b, int64_t p0, int64_t k, int64_t j0, int64_t w, int vectors) {
  const int64_t width = 16 * vectors;
  if (b.colStride == 1) {
    for (int64_t p = 0; p < k; ++p) {
      const float* src = b.data + (p0 + p) * b.rowStride + j0;
      for (int v = 0; v < vectors; ++v) {
        const int64_t left = std::min<int64_t>(16, w - 16 * v);
        const auto mask = static_cast<__mmask16>((1u << left) - 1);
        _mm512_store_ps(panel + p * width + 16 * v, _mm512_maskz_loadu_ps(mask, src + 16 * v));
      }
    }
    return;
  }
  for (int64_t p = 0; p < k; ++p) {
    float* row = panel + p * width;
    const float* src = b.data + (p0 + p) * b.rowStride + j0 * b.colStride;
    for (int64_t q = 0; q < w; ++q) row[q] = src[q * b.colStride];
    std::fill(row + w, row + width, 0.0f);
  }
}

/// The calling thread's panel buffer, 64-byte aligned for the aligned loads.
float* panelBuffer(int64_t floats) {
  struct Free {
    void operator()(float* p) const { std::free(p); }
  };
  thread_local std::unique_ptr<float, Free> buffer;
  thread_local int64_t capacity = 0;
  if (floats > capacity) {
    const size_t bytes = (static_cast<size_t>(floats) * sizeof(float) + 63) / 64 * 64;
    buffer.reset(static_cast<float*>(std::aligned_alloc(64, bytes)));
    capacity = floats;
  }
  return buffer.get();
}

}  // namespace

void gemm(float* c, int64_t ldc, StridedView a, StridedView b, int64_t m, int64_t n, int64_t k) {
  if (k == 0) {  // an empty contraction: zeros
    for (int64_t i = 0; i < m; ++i) std::fill(c + i * ldc, c + i * ldc + n, 0.0f);
    return;
  }
  float* panel = panelBuffer(std::min(k, kKBlock) * kPanel);
  for (int64_t j = 0; j < n; j += kPanel) {
    const int64_t w = std::min(kPanel, n - j);
    const int vectors = static_cast<int>((w + 15) / 16);
    const int64_t tail = w - 16 * (vectors - 1);
    const __mmask16 lastMask = static_cast<__mmask16>((1u << tail) - 1);
    float* cj = c + j;
    for (int64_t p0 = 0; p0 < k; p0 += kKBlock) {
      const int64_t kk = std::min(kKBlock, k - p0);
      pack(panel, b, p0, kk, j, w, vectors);
      const float* ap = a.data + p0 * a.colStride;
      const bool accumulate = p0 > 0;
      switch (vectors) {
        case 4: rowsOfPanel<4>(cj, ldc, ap, a.rowStride, a.colStride, panel, m, kk, lastMask, accumulate); break;
        case 3: rowsOfPanel<3>(cj, ldc, ap, a.rowStride, a.colStride, panel, m, kk, lastMask, accumulate); break;
        case 2: rowsOfPanel<2>(cj, ldc, ap, a.rowStride, a.colStride, panel, m, kk, lastMask, accumulate); break;
        default: rowsOfPanel<1>(cj, ldc, ap, a.rowStride, a.colStride, panel, m, kk, lastMask, accumulate); break;
      }
    }
  }
}

#else  // no AVX-512: the callers keep Eigen's product (kHaveGemm is false)

void gemm(float*, int64_t, StridedView, StridedView, int64_t, int64_t, int64_t) { std::abort(); }

#endif

}  // namespace recc
