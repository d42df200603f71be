// A register-tiled single-precision matrix product for CPUs with AVX-512 or AVX2 with FMA, used
// by recc_rt_matmul_f32 for the medium shapes of recommender layers ([1024 x 128] x [128 x 256]
// and their gradients), where Eigen's general kernel reaches about half to two thirds of the
// FMA peak, and for the batched small products of attention. Elsewhere (older CPUs, or a thin
// result) the callers keep Eigen.
#pragma once
#include <cstdint>

namespace recc {

/// A read-only strided matrix: element (r, c) is at data[r * rowStride + c * colStride]. A
/// row-major matrix and the transpose of one are both views of this kind.
struct StridedView {
  const float* data;
  int64_t rowStride, colStride;
};

/// op(x) as a rows x cols view, x stored row-major as [rows, cols] or, transposed, [cols, rows]
/// (the ta / tb operands of recc_rt_matmul_f32).
inline StridedView operandView(const float* x, int64_t rows, int64_t cols, bool transposed) {
  return transposed ? StridedView{x, 1, rows} : StridedView{x, cols, 1};
}

/// Whether this build has gemm() (it needs AVX-512, or AVX2 with FMA).
#if defined(__AVX512F__) || (defined(__AVX2__) && defined(__FMA__))
#define RECC_HAVE_GEMM 1
#else
#define RECC_HAVE_GEMM 0
#endif
constexpr bool kHaveGemm = RECC_HAVE_GEMM;

/// Whether the runtime's products use gemm() (on by default where kHaveGemm). Benchmarks switch
/// it off to time Eigen's product on the same shapes; returns the previous setting.
bool setGemmEnabled(bool on);
bool gemmEnabled();

/// Whether gemm() is in use and the faster way to a whole product of this shape: Eigen keeps
/// the thin results (matrix-vector products, outer products).
bool gemmHandles(int64_t m, int64_t n, int64_t k);

/// c[i * ldc + j] = sum over p < k of a(i, p) * b(p, j), for i < m, j < n (overwrites c). Each
/// element is the same sequence of sums (over p in order, in blocks of 512 steps), whatever the
/// block of a larger product it is part of: splitting the rows or columns of a product between
/// threads gives the same bits.
void gemm(float* c, int64_t ldc, StridedView a, StridedView b, int64_t m, int64_t n, int64_t k);

}  // namespace recc
