// The kernel of Gemm.h. B is copied, up to kPanel columns and 512 rows at a time, into a
// zero-padded panel laid out [k][NV vectors] (contiguous, so the panel stays in L1/L2 while every
// row of A streams past it; the padding spares the inner loop masked loads, which cost more than
// the product), unless few rows of A share it: then whole vectors of a row-major B are read in
// place. A 6-row tile of C lives in 6 x NV vector accumulators: per step p, NV loads of
// the panel's row p and 6 broadcasts of a(i, p) feed 6 NV FMAs. With AVX-512 a panel is 64
// columns (6 x 4 of the 32 zmm; a last, wide one up to 80, in 4-row tiles: see kWideVectors);
// with AVX2 and FMA, 16 (6 x 2 of the 16 ymm, the register budget of the classic Haswell
// tile). A transposed A (a weight gradient's X^T) is copied per block of rows into [k][6]
// tiles when four panels or more share the copy. Long contractions (weight gradients over B*T
// rows) go in blocks of 512 steps, each added to C: every element is the same sequence of sums
// whatever block of rows or columns of the product is being computed.
#include "runtime/kernels/Gemm.h"

#include <algorithm>
#include <atomic>
#include <cstdlib>
#include <cstring>
#include <memory>

#if RECC_HAVE_GEMM
// GCC 12 reports a false -Wuninitialized inside its own AVX-512 lane shuffles (the transposes
// below), whose headers start from an undefined vector; see Kernels.cpp.
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#pragma GCC diagnostic ignored "-Wuninitialized"
#include <immintrin.h>
#endif

namespace recc {

namespace {
std::atomic<bool> enabled{kHaveGemm};
}  // namespace

bool setGemmEnabled(bool on) { return enabled.exchange(on && kHaveGemm); }
bool gemmEnabled() { return enabled.load(std::memory_order_relaxed); }
bool gemmHandles(int64_t m, int64_t n, int64_t k) { return gemmEnabled() && n >= 16 && m >= 4 && k >= 8; }

#if RECC_HAVE_GEMM

namespace {

/// The vector instructions the kernel is written in: the widest this build targets.
#if defined(__AVX512F__)
struct Vec {
  using T = __m512;
  static constexpr int kWidth = 16;
  static constexpr int kMaxVectors = 4;
  static constexpr bool kWidePanels = true;  // see kWideVectors
  static T zero() { return _mm512_setzero_ps(); }
  static T load(const float* p) { return _mm512_load_ps(p); }
  static void store(float* p, T x) { _mm512_store_ps(p, x); }
  static T broadcast(const float* p) { return _mm512_set1_ps(*p); }
  static T fmadd(T a, T b, T c) { return _mm512_fmadd_ps(a, b, c); }
  static T add(T a, T b) { return _mm512_add_ps(a, b); }
  static T loadu(const float* p) { return _mm512_loadu_ps(p); }
  static void storeu(float* p, T x) { _mm512_storeu_ps(p, x); }
  /// The first n (1..kWidth-1) floats at p, the rest zero; and their store.
  static T loadMasked(const float* p, int64_t n) {
    return _mm512_maskz_loadu_ps(static_cast<__mmask16>((1u << n) - 1), p);
  }
  static void storeMasked(float* p, T x, int64_t n) {
    _mm512_mask_storeu_ps(p, static_cast<__mmask16>((1u << n) - 1), x);
  }
  /// dst[c * ldd + r] = src[r * ld + c] for a 16 x 16 block: pairs of rows interleaved by
  /// 32 and then 64 bits within each 128-bit lane, then the lanes gathered by two lane shuffles.
  static void transpose(const float* src, int64_t ld, float* dst, int64_t ldd) {
    T t[16], u[16];
    for (int i = 0; i < 16; i += 2) {
      const T r0 = loadu(src + i * ld), r1 = loadu(src + (i + 1) * ld);
      t[i] = _mm512_unpacklo_ps(r0, r1);  // lane L: r0[4L], r1[4L], r0[4L+1], r1[4L+1]
      t[i + 1] = _mm512_unpackhi_ps(r0, r1);
    }
    auto pd = [](T x) { return _mm512_castps_pd(x); };
    for (int g = 0; g < 16; g += 4) {  // rows g..g+3; u[g + j], lane L: their column 4L + j
      u[g] = _mm512_castpd_ps(_mm512_unpacklo_pd(pd(t[g]), pd(t[g + 2])));
      u[g + 1] = _mm512_castpd_ps(_mm512_unpackhi_pd(pd(t[g]), pd(t[g + 2])));
      u[g + 2] = _mm512_castpd_ps(_mm512_unpacklo_pd(pd(t[g + 1]), pd(t[g + 3])));
      u[g + 3] = _mm512_castpd_ps(_mm512_unpackhi_pd(pd(t[g + 1]), pd(t[g + 3])));
    }
    for (int j = 0; j < 4; ++j) {
      const T lo0 = _mm512_shuffle_f32x4(u[j], u[4 + j], 0x44), hi0 = _mm512_shuffle_f32x4(u[j], u[4 + j], 0xee);
      const T lo1 = _mm512_shuffle_f32x4(u[8 + j], u[12 + j], 0x44), hi1 = _mm512_shuffle_f32x4(u[8 + j], u[12 + j], 0xee);
      storeu(dst + j * ldd, _mm512_shuffle_f32x4(lo0, lo1, 0x88));
      storeu(dst + (4 + j) * ldd, _mm512_shuffle_f32x4(lo0, lo1, 0xdd));
      storeu(dst + (8 + j) * ldd, _mm512_shuffle_f32x4(hi0, hi1, 0x88));
      storeu(dst + (12 + j) * ldd, _mm512_shuffle_f32x4(hi0, hi1, 0xdd));
    }
  }
};
#else
struct Vec {
  using T = __m256;
  static constexpr int kWidth = 8;
  static constexpr int kMaxVectors = 2;
  static constexpr bool kWidePanels = false;  // 16 ymm: no room for a wider tile's accumulators
  static T zero() { return _mm256_setzero_ps(); }
  static T load(const float* p) { return _mm256_load_ps(p); }
  static void store(float* p, T x) { _mm256_store_ps(p, x); }
  static T broadcast(const float* p) { return _mm256_broadcast_ss(p); }
  static T fmadd(T a, T b, T c) { return _mm256_fmadd_ps(a, b, c); }
  static T add(T a, T b) { return _mm256_add_ps(a, b); }
  static T loadu(const float* p) { return _mm256_loadu_ps(p); }
  static void storeu(float* p, T x) { _mm256_storeu_ps(p, x); }
  static __m256i mask(int64_t n) {
    return _mm256_cmpgt_epi32(_mm256_set1_epi32(static_cast<int>(n)), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
  }
  static T loadMasked(const float* p, int64_t n) { return _mm256_maskload_ps(p, mask(n)); }
  static void storeMasked(float* p, T x, int64_t n) { _mm256_maskstore_ps(p, mask(n), x); }
  /// dst[c * ldd + r] = src[r * ld + c] for an 8 x 8 block: rows interleaved within each
  /// 128-bit lane, then the lanes swapped into place.
  static void transpose(const float* src, int64_t ld, float* dst, int64_t ldd) {
    T t[8], s[8];
    for (int i = 0; i < 8; i += 2) {
      const T r0 = loadu(src + i * ld), r1 = loadu(src + (i + 1) * ld);
      t[i] = _mm256_unpacklo_ps(r0, r1);  // lane L: r0[4L], r1[4L], r0[4L+1], r1[4L+1]
      t[i + 1] = _mm256_unpackhi_ps(r0, r1);
    }
    for (int g = 0; g < 8; g += 4) {  // rows g..g+3; s[g + j], lane L: their column 4L + j
      s[g] = _mm256_shuffle_ps(t[g], t[g + 2], 0x44);
      s[g + 1] = _mm256_shuffle_ps(t[g], t[g + 2], 0xee);
      s[g + 2] = _mm256_shuffle_ps(t[g + 1], t[g + 3], 0x44);
      s[g + 3] = _mm256_shuffle_ps(t[g + 1], t[g + 3], 0xee);
    }
    for (int j = 0; j < 4; ++j) {
      storeu(dst + j * ldd, _mm256_permute2f128_ps(s[j], s[4 + j], 0x20));
      storeu(dst + (4 + j) * ldd, _mm256_permute2f128_ps(s[j], s[4 + j], 0x31));
    }
  }
};
#endif

// The first n (1..kWidth) floats at p (the rest zero), and their store: masked moves are slow
// (microcoded AVX2 stores on some CPUs), so whole vectors go unmasked.
Vec::T loadFirst(const float* p, int64_t n) { return n == Vec::kWidth ? Vec::loadu(p) : Vec::loadMasked(p, n); }
void storeFirst(float* p, Vec::T x, int64_t n) {
  if (n == Vec::kWidth) Vec::storeu(p, x);
  else Vec::storeMasked(p, x, n);
}

constexpr int64_t kW = Vec::kWidth;
constexpr int64_t kPanel = kW * Vec::kMaxVectors;  // columns of B per packed panel
constexpr int64_t kKBlock = 512;                   // steps of the contraction per packed panel
constexpr int kRows = 6;                           // rows of A per tile
// With AVX-512, a product's last 65 to 80 columns (80: DIN's attention and hidden layers) are
// one wide panel of kMaxVectors + 1 vectors in tiles of kWideRows rows (20 of the 32 zmm
// accumulate, as in the 6-row tile) instead of a full panel and a one-vector one, whose tiles
// keep too few FMAs in flight. One thread, GFLOP/s before -> after: 20480 x 80 x 32 191-194 ->
// 212-214; weight gradients 32 x 80 x 20480 142-154 -> 180-192, 200 x 80 x 1024 171-172 -> 204-207.
constexpr int kWideVectors = Vec::kMaxVectors + 1;
constexpr int kWideRows = 4;
constexpr int64_t kRowBlock = 72;                  // rows of A per block (72 x 512 floats: 144 KiB, L2)
constexpr int64_t kPackedFloats = 128 * 1024;      // packed B per group of panels (512 KiB)

/// One tile: rows [0, MR) of C, the panel's kW*NV columns (the last vector's first `tail`
/// stored), over k steps; added to C's values if `accumulate`. The loops over the accumulators
/// are unrolled by pragma: without it GCC 12 keeps the array in memory and stores every
/// accumulator at every step (half the speed with AVX2).
template <int MR, int NV>
void tile(float* c, int64_t ldc, const float* a, int64_t ai, int64_t ap, const float* panel, int64_t ldp,
          int64_t k, int64_t tail, bool accumulate) {
  Vec::T acc[MR][NV];
  _Pragma("GCC unroll 8") for (int i = 0; i < MR; ++i)
    _Pragma("GCC unroll 8") for (int v = 0; v < NV; ++v) acc[i][v] = Vec::zero();
  for (int64_t p = 0; p < k; ++p) {
    Vec::T bv[NV];
    _Pragma("GCC unroll 8") for (int v = 0; v < NV; ++v) {
      bv[v] = Vec::loadu(panel + p * ldp + v * kW);
      // The wide tile's panel row held in registers: GCC folds it into each FMA as a memory
      // operand, loading it once per row of the tile, and then the loads, not the FMAs, set the
      // pace (one thread, 20480 x 80 x 32: 165 GFLOP/s folded, 216 held; the one-vector
      // panel it replaces: 196).
      if constexpr (NV == kWideVectors) asm("" : "+v"(bv[v]));
    }
    _Pragma("GCC unroll 8") for (int i = 0; i < MR; ++i) {
      const Vec::T av = Vec::broadcast(a + i * ai + p * ap);
      _Pragma("GCC unroll 8") for (int v = 0; v < NV; ++v) acc[i][v] = Vec::fmadd(av, bv[v], acc[i][v]);
    }
  }
  _Pragma("GCC unroll 8") for (int i = 0; i < MR; ++i) {
    float* row = c + i * ldc;
    _Pragma("GCC unroll 8") for (int v = 0; v + 1 < NV; ++v)
      Vec::storeu(row + kW * v, accumulate ? Vec::add(acc[i][v], Vec::loadu(row + kW * v)) : acc[i][v]);
    float* last = row + kW * (NV - 1);
    storeFirst(last, accumulate ? Vec::add(acc[i][NV - 1], loadFirst(last, tail)) : acc[i][NV - 1], tail);
  }
}

/// The last tile of a panel's rows, of `rows` (1..R) rows.
template <int NV, int R>
void lastTile(int rows, float* c, int64_t ldc, const float* a, int64_t ai, int64_t ap, const float* panel, int64_t ldp,
              int64_t k, int64_t tail, bool accumulate) {
  if constexpr (R > 1)
    if (rows < R) return lastTile<NV, R - 1>(rows, c, ldc, a, ai, ap, panel, ldp, k, tail, accumulate);
  tile<R, NV>(c, ldc, a, ai, ap, panel, ldp, k, tail, accumulate);
}

/// Rows [0, m) of C against one panel, in tiles of MR rows; tile i's A starts at a + i * step
/// (step = ai for A as stored, or k for A packed by packRows).
template <int NV, int MR = kRows>
void rowsOfPanel(float* c, int64_t ldc, const float* a, int64_t ai, int64_t ap, int64_t step, const float* panel,
                 int64_t ldp, int64_t m, int64_t k, int64_t tail, bool accumulate) {
  int64_t i = 0;
  for (; i + MR <= m; i += MR)
    tile<MR, NV>(c + i * ldc, ldc, a + i * step, ai, ap, panel, ldp, k, tail, accumulate);
  if (i < m)
    lastTile<NV, MR - 1>(static_cast<int>(m - i), c + i * ldc, ldc, a + i * step, ai, ap, panel, ldp, k, tail,
                         accumulate);
}

/// rowsOfPanel for a panel of `vectors` (1..NV) vectors.
template <int NV>
void rowsOfPanelOf(int vectors, float* c, int64_t ldc, const float* a, int64_t ai, int64_t ap, int64_t step,
                   const float* panel, int64_t ldp, int64_t m, int64_t k, int64_t tail, bool accumulate) {
  if constexpr (NV == Vec::kMaxVectors && Vec::kWidePanels)
    if (vectors == kWideVectors)
      return rowsOfPanel<kWideVectors, kWideRows>(c, ldc, a, ai, ap, step, panel, ldp, m, k, tail, accumulate);
  if constexpr (NV > 1)
    if (vectors < NV) return rowsOfPanelOf<NV - 1>(vectors, c, ldc, a, ai, ap, step, panel, ldp, m, k, tail, accumulate);
  rowsOfPanel<NV>(c, ldc, a, ai, ap, step, panel, ldp, m, k, tail, accumulate);
}

/// Copies rows [0, m) and steps [0, k) of a transposed A (a weight gradient's X^T, whose steps
/// are X's rows) into tiles of kRows rows, [k][kRows] each: a tile then broadcasts its rows
/// from one contiguous stream instead of one cache line of X per step (X's rows are far apart:
/// a [B*T, 80] activation's are 320 bytes). Rows past m in the last tile are zeros.
void packRows(float* out, StridedView a, int64_t m, int64_t k) {
  for (int64_t i0 = 0; i0 < m; i0 += kRows) {
    float* t = out + i0 * k;
    const int64_t rows = std::min<int64_t>(kRows, m - i0);
    if (a.rowStride == 1 && i0 + kW <= m) {  // a step's rows are one vector: copy it whole, the
      for (int64_t p = 0; p < k; ++p)       // lanes past kRows are overwritten by the next step
        Vec::storeu(t + p * kRows, Vec::loadu(a.data + i0 + p * a.colStride));
      continue;
    }
    for (int64_t p = 0; p < k; ++p) {
      const float* src = a.data + i0 * a.rowStride + p * a.colStride;
      for (int64_t r = 0; r < kRows; ++r) t[p * kRows + r] = r < rows ? src[r * a.rowStride] : 0.0f;
    }
  }
}

/// Copies b's rows [p0, p0 + k) and columns [j0, j0 + w) into panel ([k][vectors], zero beyond
/// w): vector loads from a row-major b, blocks transposed in registers from a transposed one.
void pack(float* panel, StridedView b, int64_t p0, int64_t k, int64_t j0, int64_t w, int vectors) {
  const int64_t width = kW * vectors;
  if (b.colStride == 1) {
    for (int64_t p = 0; p < k; ++p) {
      const float* src = b.data + (p0 + p) * b.rowStride + j0;
      for (int v = 0; v < vectors; ++v)
        Vec::store(panel + p * width + kW * v, loadFirst(src + kW * v, std::min(kW, w - kW * v)));
    }
    return;
  }
  // A transposed b (a weight's W^T in a layer's input gradient) whose steps are contiguous:
  // kW x kW blocks transposed in registers, kW vector loads each instead of kW * kW strided
  // scalar ones (those were 5% of Wide&Deep's step). The rest element by element.
  int64_t q0 = 0, pBlocks = 0;
  if (b.rowStride == 1) {
    pBlocks = k / kW * kW;
    for (; q0 + kW <= w; q0 += kW)
      for (int64_t p = 0; p < pBlocks; p += kW)
        Vec::transpose(b.data + p0 + p + (j0 + q0) * b.colStride, b.colStride, panel + p * width + q0, width);
  }
  for (int64_t p = 0; p < k; ++p) {
    float* row = panel + p * width;
    const float* src = b.data + (p0 + p) * b.rowStride + j0 * b.colStride;
    for (int64_t q = p < pBlocks ? q0 : 0; q < w; ++q) row[q] = src[q * b.colStride];
    std::fill(row + w, row + width, 0.0f);
  }
}

/// A buffer of the calling thread (one per `which`: packed panels of B, packed rows of A),
/// 64-byte aligned for the aligned loads.
template <int which>
float* scratch(int64_t floats) {
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
  // Loops in the order of Goto's algorithm: a group of B's columns is packed once per block of
  // the contraction (up to kPackedFloats), then each block of A's rows (kRowBlock rows, which stay
  // in L2) meets every panel of the group, instead of all of A streaming past each panel.
  const int64_t kk0 = std::min(k, kKBlock);
  const int64_t group = std::max<int64_t>(1, kPackedFloats / (kk0 * kPanel)) * kPanel;  // columns per group
  float* packed = scratch<0>(kk0 * std::min(group, (n + kPanel - 1) / kPanel * kPanel));
  // A stored with its steps apart (transposed) is packed per block of rows when enough panels
  // share the copy (CPU time at one thread: 128 x 256 x 1024 and x 512 -25%; with 2 panels, 32 x
  // 32 x 20480, the copy made it slower); A stored row-major is read in place: each of a tile's
  // rows is then a stream along its own row.
  const bool packA = a.colStride != 1 && n >= 4 * kPanel;
  // A row-major B is read in place where the product has one block of rows (a weight gradient's
  // long contraction into 32 or 64 rows): its panels then serve a few tiles each, and copying
  // them cost as much as those tiles' reads (one thread, 32 x 80 x 10240: 127 -> 150 GFLOP/s).
  const bool direct = b.colStride == 1 && m <= kRowBlock;
  // The last kPanel + 1 to kPanel + kW columns make one wide panel (not with A packed in 6-row
  // tiles).
  const int64_t widest = Vec::kWidePanels && !packA ? kPanel + kW : kPanel;
  float* rowsBuffer = packA ? scratch<1>(kk0 * ((kRowBlock + kRows - 1) / kRows * kRows) + kW) : nullptr;
  for (int64_t j0 = 0; j0 < n; j0 += group) {
    const int64_t cols = std::min(group, n - j0);
    for (int64_t p0 = 0; p0 < k; p0 += kKBlock) {
      const int64_t kk = std::min(kKBlock, k - p0);
      auto panelWidth = [&](int64_t j) { return cols - j <= widest ? cols - j : kPanel; };
      auto vectorsOf = [](int64_t w) { return static_cast<int>((w + kW - 1) / kW); };
      // Only panels of whole vectors: the tiles load no partial ones.
      auto inPlace = [&](int64_t j) { return direct && panelWidth(j) % kW == 0; };
      for (int64_t j = 0; j < cols; j += panelWidth(j))  // panel j at packed + j * kk
        if (!inPlace(j)) pack(packed + j * kk, b, p0, kk, j0 + j, panelWidth(j), vectorsOf(panelWidth(j)));
      for (int64_t i0 = 0; i0 < m; i0 += kRowBlock) {
        const int64_t rows = std::min(kRowBlock, m - i0);
        const float* ar = a.data + i0 * a.rowStride + p0 * a.colStride;
        int64_t ai = a.rowStride, ap = a.colStride, step = a.rowStride;
        if (packA) {
          packRows(rowsBuffer, StridedView{ar, a.rowStride, a.colStride}, rows, kk);
          ar = rowsBuffer;
          ai = 1;
          ap = kRows;
          step = kk;
        }
        for (int64_t j = 0, w = 0; j < cols; j += w) {
          w = panelWidth(j);
          const int vectors = vectorsOf(w);
          const float* panel = inPlace(j) ? b.data + p0 * b.rowStride + j0 + j : packed + j * kk;
          rowsOfPanelOf<Vec::kMaxVectors>(vectors, c + i0 * ldc + j0 + j, ldc, ar, ai, ap, step, panel,
                                          inPlace(j) ? b.rowStride : kW * vectors, rows, kk, w - kW * (vectors - 1),
                                          p0 > 0);
        }
      }
    }
  }
}

#else  // neither AVX-512 nor AVX2 with FMA: the callers keep Eigen's product (kHaveGemm is false)

void gemm(float*, int64_t, StridedView, StridedView, int64_t, int64_t, int64_t) { std::abort(); }

#endif

}  // namespace recc
