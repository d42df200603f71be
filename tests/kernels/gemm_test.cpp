// Tests of the tiled AVX-512 / AVX2 product (runtime/kernels/Gemm.h) against double-precision loops: every
// tile size and panel width at its edges, transposed operands as strided views, a block written
// into a wider matrix, and the same bits for a row or column block as for the whole product.
#include <gtest/gtest.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <random>
#include <vector>

#include "runtime/kernels/Gemm.h"
#include "runtime/kernels/Kernels.h"
#include "tests/kernels/RandomVec.h"

namespace {

float at(recc::StridedView v, int64_t r, int64_t c) { return v.data[r * v.rowStride + c * v.colStride]; }

/// Expects c (row stride ldc) to hold a x b within float rounding of a k-term sum.
void expectProduct(const std::vector<float>& c, int64_t ldc, recc::StridedView a, recc::StridedView b, int64_t m,
                   int64_t n, int64_t k) {
  for (int64_t i = 0; i < m; ++i)
    for (int64_t j = 0; j < n; ++j) {
      double s = 0, mag = 0;
      for (int64_t p = 0; p < k; ++p) {
        s += static_cast<double>(at(a, i, p)) * at(b, p, j);
        mag += std::fabs(static_cast<double>(at(a, i, p)) * at(b, p, j));
      }
      ASSERT_NEAR(c[i * ldc + j], s, 1e-6 * (1 + mag)) << m << "x" << n << "x" << k << " at " << i << "," << j;
    }
}

TEST(Gemm, MatchesDoublePrecisionLoopsAtEveryTileEdge) {
  if (!recc::kHaveGemm) GTEST_SKIP() << "built without AVX-512 or AVX2+FMA: matmul keeps Eigen";
  // Rows 1..13 cover the 6-row and 4-row tiles and every remainder; columns cover 1..4 vectors,
  // partial vectors, a second panel, and the wide last panel (65..80 columns with AVX-512: 65,
  // 80, 130); k = 1 and odd lengths.
  for (int64_t m : {1, 5, 6, 7, 13})
    for (int64_t n : {1, 15, 16, 17, 48, 64, 65, 80, 130})
      for (int64_t k : {1, 9, 70})
        for (int ta = 0; ta < 2; ++ta)
          for (int tb = 0; tb < 2; ++tb) {
            auto as = randomVec(m * k, 1), bs = randomVec(k * n, 2);
            const recc::StridedView a = recc::operandView(as.data(), m, k, ta);
            const recc::StridedView b = recc::operandView(bs.data(), k, n, tb);
            std::vector<float> c(m * n, 123.f);  // overwritten, not accumulated
            recc::gemm(c.data(), n, a, b, m, n, k);
            expectProduct(c, n, a, b, m, n, k);
          }
}

TEST(Gemm, LongContractionsAddUpTheirBlocks) {
  if (!recc::kHaveGemm) GTEST_SKIP() << "built without AVX-512 or AVX2+FMA";
  // 512 steps per packed panel: one block, exactly two, and a remainder of one; an empty one.
  for (int64_t k : {512, 1024, 1025, 0})
    for (int ta = 0; ta < 2; ++ta)
      for (int tb = 0; tb < 2; ++tb) {
        const int64_t m = 7, n = 70;
        auto as = randomVec(m * k, 11), bs = randomVec(k * n, 12);
        const recc::StridedView a = recc::operandView(as.data(), m, k, ta);
        const recc::StridedView b = recc::operandView(bs.data(), k, n, tb);
        std::vector<float> c(m * n, 123.f);
        recc::gemm(c.data(), n, a, b, m, n, k);
        expectProduct(c, n, a, b, m, n, k);
      }
}

TEST(Gemm, LargeProductsCoverEveryRowBlockAndColumnGroup) {
  if (!recc::kHaveGemm) GTEST_SKIP() << "built without AVX-512 or AVX2+FMA";
  // 150 rows: two 72-row blocks and a rest; 300 columns at k = 1100: two groups of packed
  // panels (256 columns per group at 512 steps) and three blocks of the contraction.
  const int64_t m = 150, n = 300, k = 1100;
  for (int ta = 0; ta < 2; ++ta) {
    auto as = randomVec(m * k, 13), bs = randomVec(k * n, 14);
    const recc::StridedView a = recc::operandView(as.data(), m, k, ta), b{bs.data(), n, 1};
    std::vector<float> c(m * n, 123.f);
    recc::gemm(c.data(), n, a, b, m, n, k);
    expectProduct(c, n, a, b, m, n, k);
  }
}

TEST(Gemm, WritesOnlyItsBlockOfAWiderMatrix) {
  if (!recc::kHaveGemm) GTEST_SKIP() << "built without AVX-512 or AVX2+FMA";
  const int64_t m = 8, n = 21, k = 12, ldc = 40;
  auto as = randomVec(m * k, 3), bs = randomVec(k * n, 4);
  const recc::StridedView a{as.data(), k, 1}, b{bs.data(), n, 1};
  std::vector<float> c(m * ldc, -7.f);
  recc::gemm(c.data(), ldc, a, b, m, n, k);
  expectProduct(c, ldc, a, b, m, n, k);
  for (int64_t i = 0; i < m; ++i)
    for (int64_t j = n; j < ldc; ++j) ASSERT_EQ(c[i * ldc + j], -7.f) << i << "," << j;  // masked tail
}

TEST(Gemm, ABlockOfRowsOrColumnsHasTheBitsOfTheWholeProduct) {
  if (!recc::kHaveGemm) GTEST_SKIP() << "built without AVX-512 or AVX2+FMA";
  // recc_rt_matmul_f32 splits a product between threads by rows or columns: each element must
  // be the same sum whichever block (and tile position) computes it.
  const int64_t m = 29, n = 150, k = 33;
  auto as = randomVec(m * k, 5), bs = randomVec(k * n, 6);
  const recc::StridedView a{as.data(), k, 1}, b{bs.data(), n, 1};
  std::vector<float> whole(m * n), blocks(m * n);
  recc::gemm(whole.data(), n, a, b, m, n, k);
  recc::gemm(blocks.data(), n, a, b, 11, n, k);  // rows [0, 11) and [11, 29)
  recc::gemm(blocks.data() + 11 * n, n, {as.data() + 11 * k, k, 1}, b, m - 11, 77, k);
  recc::gemm(blocks.data() + 11 * n + 77, n, {as.data() + 11 * k, k, 1}, {bs.data() + 77, n, 1}, m - 11, n - 77, k);
  EXPECT_EQ(whole, blocks);
}

TEST(Gemm, AWidePanelHasTheBitsOfTwoNarrowOnes) {
  if (!recc::kHaveGemm) GTEST_SKIP() << "built without AVX-512 or AVX2+FMA";
  // 80 columns are one wide panel with AVX-512; columns [0, 64) and [64, 80) computed apart are a
  // full panel and a one-vector one. Each element must be the same sum: packed (150 rows) and
  // read in place (40 rows), over two blocks of the contraction, with A as stored or transposed.
  for (int64_t m : {40, 150})
    for (int ta = 0; ta < 2; ++ta) {
      const int64_t n = 80, k = 600;
      auto as = randomVec(m * k, 17), bs = randomVec(k * n, 18);
      const recc::StridedView a = recc::operandView(as.data(), m, k, ta), b{bs.data(), n, 1};
      std::vector<float> whole(m * n), split(m * n);
      recc::gemm(whole.data(), n, a, b, m, n, k);
      recc::gemm(split.data(), n, a, b, m, 64, k);
      recc::gemm(split.data() + 64, n, a, {bs.data() + 64, n, 1}, m, n - 64, k);
      EXPECT_EQ(whole, split) << m << " rows, ta " << ta;
      expectProduct(whole, n, a, b, m, n, k);
    }
}

TEST(Gemm, PanelsReadInPlaceGiveTheBitsOfPackedOnes) {
  if (!recc::kHaveGemm) GTEST_SKIP() << "built without AVX-512 or AVX2+FMA";
  // 150 rows pack B's panels; a block of 40 of them reads B in place (a thread's share of a
  // weight gradient): each element must be the same sum. 90 columns: whole panels read in place
  // and a partial one packed; 600 steps: two blocks of the contraction.
  for (int ta = 0; ta < 2; ++ta) {
    const int64_t m = 150, n = 90, k = 600;
    auto as = randomVec(m * k, 15), bs = randomVec(k * n, 16);
    const recc::StridedView a = recc::operandView(as.data(), m, k, ta), b{bs.data(), n, 1};
    std::vector<float> whole(m * n), block(40 * n);
    recc::gemm(whole.data(), n, a, b, m, n, k);
    recc::gemm(block.data(), n, {a.data + 50 * a.rowStride, a.rowStride, a.colStride}, b, 40, n, k);
    EXPECT_TRUE(std::equal(block.begin(), block.end(), whole.begin() + 50 * n));
    expectProduct(block, n, {a.data + 50 * a.rowStride, a.rowStride, a.colStride}, b, 40, n, k);
  }
}

TEST(Gemm, MatmulSplitBetweenThreadsGivesTheBitsOfOneThread) {
  // The shapes of a recommender layer and its two gradients, through the C ABI.
  for (auto [m, n, k, ta, tb] : {std::array<int64_t, 5>{300, 96, 40, 0, 0}, {300, 40, 96, 0, 1}, {40, 96, 300, 1, 0}}) {
    auto a = randomVec(m * k, 7), b = randomVec(k * n, 8);
    std::vector<float> one(m * n), two(m * n);
    recc_set_threads(1);
    recc_rt_matmul_f32(one.data(), a.data(), b.data(), m, n, k, static_cast<int32_t>(ta), static_cast<int32_t>(tb));
    recc_set_threads(2);
    recc_rt_matmul_f32(two.data(), a.data(), b.data(), m, n, k, static_cast<int32_t>(ta), static_cast<int32_t>(tb));
    recc_set_threads(0);
    EXPECT_EQ(one, two) << m << "x" << n << "x" << k;  // rows or columns split: no partial sums
    const recc::StridedView av = recc::operandView(a.data(), m, k, ta), bv = recc::operandView(b.data(), k, n, tb);
    expectProduct(two, n, av, bv, m, n, k);
  }
}

}  // namespace

namespace {

TEST(Gemm, SwitchedOffMatmulFallsBackToEigenWithTheSameProduct) {
  // recc_bench_flops times Eigen's product through the same entry points with the kernel off.
  const int64_t m = 70, n = 48, k = 33;
  auto a = randomVec(m * k, 9), b = randomVec(k * n, 10);
  std::vector<float> tiled(m * n), eigen(m * n);
  recc_rt_matmul_f32(tiled.data(), a.data(), b.data(), m, n, k, 0, 0);
  const bool was = recc::setGemmEnabled(false);
  EXPECT_FALSE(recc::gemmEnabled());
  EXPECT_FALSE(recc::gemmHandles(m, n, k));
  recc_rt_matmul_f32(eigen.data(), a.data(), b.data(), m, n, k, 0, 0);
  recc::setGemmEnabled(was);
  EXPECT_EQ(recc::gemmEnabled(), recc::kHaveGemm);
  expectProduct(eigen, n, {a.data(), k, 1}, {b.data(), n, 1}, m, n, k);
  expectProduct(tiled, n, {a.data(), k, 1}, {b.data(), n, 1}, m, n, k);
}

}  // namespace
