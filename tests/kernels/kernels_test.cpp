// Tests of the Eigen runtime kernels against naive loops (matmul, gather, scatter_add).
#include <gtest/gtest.h>

#include <array>
#include <atomic>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <memory>
#include <mutex>
#include <string>
#include <random>
#include <set>
#include <thread>
#include <vector>

#include "runtime/kernels/Kernels.h"
#include "runtime/kernels/Memory.h"
#include "runtime/kernels/Parallel.h"
#include "runtime/kernels/Shards.h"
#include "tests/kernels/RandomVec.h"

namespace {

// Naive op(a) x op(b) with a stored [M,K] or [K,M] (ta), b stored [K,N] or [N,K] (tb).
std::vector<float> naiveMatmul(const std::vector<float>& a, const std::vector<float>& b, int64_t m,
                               int64_t n, int64_t k, bool ta, bool tb) {
  std::vector<float> c(static_cast<size_t>(m * n));
  for (int64_t i = 0; i < m; ++i)
    for (int64_t j = 0; j < n; ++j) {
      double s = 0;
      for (int64_t p = 0; p < k; ++p) {
        float av = ta ? a[p * m + i] : a[i * k + p];
        float bv = tb ? b[j * k + p] : b[p * n + j];
        s += static_cast<double>(av) * bv;
      }
      c[i * n + j] = static_cast<float>(s);
    }
  return c;
}

class MatmulTest : public ::testing::TestWithParam<std::pair<int, int>> {};

TEST_P(MatmulTest, MatchesNaiveLoops) {
  auto [ta, tb] = GetParam();
  const int64_t m = 7, n = 5, k = 11;
  auto a = randomVec(static_cast<size_t>(m * k), 1), b = randomVec(static_cast<size_t>(k * n), 2);
  std::vector<float> out(m * n, 123.f);  // the kernel must overwrite, not accumulate
  recc_rt_matmul_f32(out.data(), a.data(), b.data(), m, n, k, ta, tb);
  auto want = naiveMatmul(a, b, m, n, k, ta, tb);
  for (size_t i = 0; i < out.size(); ++i) EXPECT_NEAR(out[i], want[i], 1e-4) << i;
}

INSTANTIATE_TEST_SUITE_P(AllTransposes, MatmulTest,
                         ::testing::Values(std::make_pair(0, 0), std::make_pair(1, 0),
                                           std::make_pair(0, 1), std::make_pair(1, 1)));

TEST(Kernels, MatmulEmptyInnerDimIsZero) {
  std::vector<float> out(6, 5.f);
  recc_rt_matmul_f32(out.data(), nullptr, nullptr, 2, 3, 0, 0, 0);
  for (float x : out) EXPECT_EQ(x, 0.f);
}

TEST(Kernels, GatherCopiesRows) {
  const int64_t rows = 6, dim = 4;
  auto table = randomVec(rows * dim, 3);
  auto orig = table;
  std::vector<int32_t> ids = {5, 0, 5, 2};
  std::vector<float> out(ids.size() * dim);
  recc_rt_gather_f32(out.data(), table.data(), ids.data(), 4, dim, dim, rows, 0.f);
  for (size_t i = 0; i < ids.size(); ++i)
    for (int64_t d = 0; d < dim; ++d) EXPECT_EQ(out[i * dim + d], orig[ids[i] * dim + d]);
  EXPECT_EQ(table, orig);  // no max_norm: the table is untouched
}

TEST(Kernels, GatherRenormalisesLookedUpRowsInPlace) {
  const int64_t rows = 4, dim = 3;
  std::vector<float> table = {3, 4, 0,      // norm 5: renormalised
                              0.1f, 0, 0,   // norm 0.1: below max_norm, kept
                              6, 8, 0,      // norm 10 but never looked up: kept
                              0, 0, 2};     // norm 2: renormalised
  std::vector<int32_t> ids = {0, 1, 3, 0};
  std::vector<float> out(ids.size() * dim);
  const float maxNorm = 1.f;
  recc_rt_gather_f32(out.data(), table.data(), ids.data(), 4, dim, dim, rows, maxNorm);
  auto norm = [&](const float* r) { return std::sqrt(r[0] * r[0] + r[1] * r[1] + r[2] * r[2]); };
  EXPECT_NEAR(table[0], 3.f * maxNorm / (5.f + 1e-7f), 1e-6);
  EXPECT_NEAR(norm(&table[0]), 1.f, 1e-5);
  EXPECT_EQ(table[3], 0.1f);
  EXPECT_EQ(table[6], 6.f);
  EXPECT_NEAR(norm(&table[9]), 1.f, 1e-5);
  // the output holds the renormalised rows; the repeated id is not scaled twice
  for (size_t i = 0; i < ids.size(); ++i)
    for (int64_t d = 0; d < dim; ++d) EXPECT_EQ(out[i * dim + d], table[ids[i] * dim + d]);
}

TEST(Kernels, ScatterAddZeroesThenAccumulatesRepeatedIds) {
  const int64_t rows = 5, dim = 3;
  std::vector<int32_t> ids = {1, 3, 1, 1, 0};
  auto g = randomVec(ids.size() * dim, 4);
  std::vector<float> out(rows * dim, 99.f);
  recc_rt_scatter_add_f32(out.data(), ids.data(), g.data(), 5, dim, rows, 1);
  std::vector<float> want(rows * dim, 0.f);
  for (size_t i = 0; i < ids.size(); ++i)
    for (int64_t d = 0; d < dim; ++d) want[ids[i] * dim + d] += g[i * dim + d];
  for (size_t i = 0; i < out.size(); ++i) EXPECT_NEAR(out[i], want[i], 1e-6) << i;
  for (int64_t d = 0; d < dim; ++d) EXPECT_EQ(out[2 * dim + d], 0.f);  // untouched rows zeroed
}

TEST(Kernels, ScatterAddReadsOneGradientRowPerGroupOfRepeatedIds) {
  // Rows of 3 ids (a multi-hot field) share their gradient row: as if it were repeated.
  const int64_t rows = 5, dim = 3, repeat = 3;
  std::vector<int32_t> ids = {1, 3, 1, 4, 0, 4};
  auto g = randomVec(2 * dim, 5);
  std::vector<float> out(rows * dim, 99.f), want(rows * dim, 0.f);
  recc_rt_scatter_add_f32(out.data(), ids.data(), g.data(), 6, dim, rows, repeat);
  for (size_t i = 0; i < ids.size(); ++i)
    for (int64_t d = 0; d < dim; ++d) want[ids[i] * dim + d] += g[i / repeat * dim + d];
  for (size_t i = 0; i < out.size(); ++i) EXPECT_NEAR(out[i], want[i], 1e-6) << i;
}

TEST(Kernels, ScatterAddSumsEveryIdsGradientInOrderAtAnyRowWidth) {
  // One float a row (per-id biases), rows narrower than a vector and wider ones take different
  // paths: each gives every row its ids' gradients summed in id order, with and without rows of
  // g shared by groups of ids, and skips ids outside the table.
  const int64_t rows = 6;
  std::vector<int32_t> ids = {4, 1, 4, 0, 4, 5, 1, 1, 6, -1, 2, 4};
  for (int64_t dim : {1, 5, 16, 33})
    for (int64_t repeat : {1, 2, 4}) {
      auto g = randomVec(ids.size() * static_cast<size_t>(dim), 9);
      std::vector<float> out(rows * dim, 99.f), want(rows * dim, 0.f);
      recc_rt_scatter_add_f32(out.data(), ids.data(), g.data(), static_cast<int64_t>(ids.size()), dim, rows, repeat);
      for (size_t i = 0; i < ids.size(); ++i)
        if (ids[i] >= 0 && ids[i] < rows)
          for (int64_t d = 0; d < dim; ++d)
            want[static_cast<size_t>(ids[i] * dim + d)] += g[i / static_cast<size_t>(repeat) * static_cast<size_t>(dim) + static_cast<size_t>(d)];
      EXPECT_EQ(out, want) << "dim " << dim << ", repeat " << repeat;
    }
}

// The sparse step equals the dense step on the scattered gradient for SGD (weight decay on
// every row included), and for Adam/AdamW the per-row step on touched rows only (lazy).
TEST(Kernels, SparseUpdateMatchesDenseStepsOnTouchedRows) {
  const int64_t rows = 7, dim = 3;
  std::vector<int32_t> ids1 = {4, 1, 4}, ids2 = {1, 6};
  auto g1 = randomVec(ids1.size() * dim, 20), g2 = randomVec(ids2.size() * dim, 21);
  std::vector<float> dense(rows * dim, 0.f);
  for (size_t i = 0; i < ids1.size(); ++i)
    for (int64_t d = 0; d < dim; ++d) dense[ids1[i] * dim + d] += g1[i * dim + d];
  for (size_t i = 0; i < ids2.size(); ++i)
    for (int64_t d = 0; d < dim; ++d) dense[ids2[i] * dim + d] += g2[i * dim + d];
  const int32_t* ids[] = {ids1.data(), ids2.data()};
  const float* grads[] = {g1.data(), g2.data()};
  const int64_t counts[] = {3, 2};
  for (int kind = 0; kind < 3; ++kind) {
    ReccOptimizer opt{kind, 0.1f, 0.9f, 0.999f, 1e-8f, 0.05f, 3};
    auto p = randomVec(rows * dim, 22), m = randomVec(rows * dim, 23), v = randomVec(rows * dim, 24);
    for (float& x : v) x = x * x;
    auto pd = p, md = m, vd = v;
    recc_rt_sparse_update_f32(&opt, p.data(), m.data(), v.data(), rows, dim, dim, 2, ids, grads, counts);
    if (kind == 0) {
      recc_rt_update_f32(&opt, pd.data(), dense.data(), nullptr, nullptr, rows * dim);
    } else {
      for (int64_t r : {1, 4, 6})
        recc_rt_update_f32(&opt, pd.data() + r * dim, dense.data() + r * dim, md.data() + r * dim, vd.data() + r * dim, dim);
    }
    for (size_t i = 0; i < p.size(); ++i) {
      EXPECT_NEAR(p[i], pd[i], 1e-6) << "kind " << kind << " at " << i;
      EXPECT_EQ(m[i], md[i]) << "kind " << kind << " at " << i;  // untouched rows: moments kept
      EXPECT_EQ(v[i], vd[i]) << "kind " << kind << " at " << i;
    }
  }
}

// A table stored as row records ([w | m | v] per row, stride 3 * dim): the lookup reads (and
// renormalises) the weights only, and the sparse step gives the same bits as on three arrays.
TEST(Kernels, GatherAndSparseUpdateStepThroughRowRecords) {
  const int64_t rows = 7, dim = 3, stride = 3 * dim;
  auto p = randomVec(rows * dim, 50), m = randomVec(rows * dim, 51), v = randomVec(rows * dim, 52);
  for (float& x : v) x = x * x;
  auto interleave = [&] {
    std::vector<float> rec(static_cast<size_t>(rows * stride));
    for (int64_t r = 0; r < rows; ++r)
      for (int64_t d = 0; d < dim; ++d) {
        rec[static_cast<size_t>(r * stride + d)] = p[static_cast<size_t>(r * dim + d)];
        rec[static_cast<size_t>(r * stride + dim + d)] = m[static_cast<size_t>(r * dim + d)];
        rec[static_cast<size_t>(r * stride + 2 * dim + d)] = v[static_cast<size_t>(r * dim + d)];
      }
    return rec;
  };
  std::vector<int32_t> ids = {4, 1, 4, 6};
  auto g = randomVec(ids.size() * dim, 53);
  const int32_t* idp[] = {ids.data()};
  const float* gp[] = {g.data()};
  const int64_t counts[] = {4};
  for (float maxNorm : {0.f, 0.5f}) {
    std::vector<float> rec = interleave(), out(ids.size() * dim), want(ids.size() * dim);
    auto table = p;
    recc_rt_gather_f32(want.data(), table.data(), ids.data(), 4, dim, dim, rows, maxNorm);
    recc_rt_gather_f32(out.data(), rec.data(), ids.data(), 4, dim, stride, rows, maxNorm);
    EXPECT_EQ(out, want) << "max_norm " << maxNorm;
    for (int64_t r = 0; r < rows; ++r)
      for (int64_t d = 0; d < dim; ++d) {
        EXPECT_EQ(rec[static_cast<size_t>(r * stride + d)], table[static_cast<size_t>(r * dim + d)]);
        EXPECT_EQ(rec[static_cast<size_t>(r * stride + dim + d)], m[static_cast<size_t>(r * dim + d)]);
      }
  }
  for (int kind = 0; kind < 3; ++kind) {
    ReccOptimizer opt{kind, 0.1f, 0.9f, 0.999f, 1e-8f, 0.05f, 3};
    std::vector<float> rec = interleave();
    auto pd = p, md = m, vd = v;
    recc_rt_sparse_update_f32(&opt, pd.data(), md.data(), vd.data(), rows, dim, dim, 1, idp, gp, counts);
    recc_rt_sparse_update_f32(&opt, rec.data(), rec.data() + dim, rec.data() + 2 * dim, rows, dim, stride, 1, idp, gp,
                              counts);
    for (int64_t r = 0; r < rows; ++r)
      for (int64_t d = 0; d < dim; ++d) {
        const auto i = static_cast<size_t>(r * dim + d), at = static_cast<size_t>(r * stride + d);
        EXPECT_EQ(rec[at], pd[i]) << "kind " << kind << " row " << r;
        EXPECT_EQ(rec[at + dim], md[i]) << "kind " << kind << " row " << r;
        EXPECT_EQ(rec[at + 2 * dim], vd[i]) << "kind " << kind << " row " << r;
      }
  }
}

// Runs `compute` (which writes its results into a fresh vector) on 1 thread, then twice on
// `threads` threads with every region split (tiny grain): the parallel results match the serial
// ones, and repeat bit for bit.
template <class F>
void expectThreadInvariant(const char* what, F compute, int threads = 2, double tol = 1e-5) {
  const double grain = recc::setMinWorkPerChunk(1e-9);
  recc_set_threads(1);
  std::vector<float> serial = compute();
  std::vector<float> serialAgain = compute();
  recc_set_threads(threads);
  std::vector<float> parallel = compute();
  std::vector<float> parallelAgain = compute();
  recc_set_threads(0);
  recc::setMinWorkPerChunk(grain);
  EXPECT_EQ(serial, serialAgain) << what << ": 1 thread is not reproducible";
  EXPECT_EQ(parallel, parallelAgain) << what << ": " << threads << " threads are not reproducible";
  ASSERT_EQ(parallel.size(), serial.size()) << what;
  for (size_t i = 0; i < serial.size(); ++i)
    ASSERT_NEAR(parallel[i], serial[i], tol * (1 + std::fabs(serial[i]))) << what << " at " << i;
}

TEST(Threads, EveryKernelIsDeterministicAndMatchesOneThread) {
  for (int threads : {2, 3}) {
    for (auto [m, n, k] : {std::array<int64_t, 3>{37, 5, 9}, {3, 41, 7}, {4, 3, 97}})
      for (int ta = 0; ta < 2; ++ta)
        for (int tb = 0; tb < 2; ++tb)
          expectThreadInvariant("matmul", [&, m = m, n = n, k = k] {
            auto a = randomVec(m * k, 30), b = randomVec(k * n, 31);
            std::vector<float> c(m * n);
            recc_rt_matmul_f32(c.data(), a.data(), b.data(), m, n, k, ta, tb);
            return c;
          }, threads);
    expectThreadInvariant("batch_matmul", [] {
      auto a = randomVec(9 * 5 * 4, 32), b = randomVec(9 * 4 * 21, 33);
      std::vector<float> c(9 * 5 * 21);
      recc_rt_batch_matmul_f32(c.data(), a.data(), b.data(), 9, 5, 21, 4, 0, 0, 20, 84);
      return c;
    }, threads);
    expectThreadInvariant("softmax and layer_norm", [] {
      auto x = randomVec(11 * 6, 34), g = randomVec(6, 35), bt = randomVec(6, 36);
      std::vector<float> y(x.size()), z(x.size());
      recc_rt_softmax_f32(y.data(), x.data(), 11, 6, 1, 0);
      recc_rt_layer_norm_f32(z.data(), x.data(), g.data(), bt.data(), 11, 6, 1e-5f);
      y.insert(y.end(), z.begin(), z.end());
      return y;
    }, threads);
    expectThreadInvariant("batch_moments", [] {
      auto x = randomVec(13 * 7, 37);
      std::vector<float> rm(7, 0.f), rv(7, 1.f), y(2 * 7);
      recc_rt_batch_moments_f32(nullptr, y.data(), x.data(), rm.data(), rv.data(), 13, 7, 1e-5f, 0.1f);
      y.insert(y.end(), rm.begin(), rm.end());
      y.insert(y.end(), rv.begin(), rv.end());
      return y;
    }, threads);
    expectThreadInvariant("gather and scatter_add", [] {
      auto table = randomVec(8 * 5, 40), g = randomVec(12 * 5, 41);
      std::vector<int32_t> ids = {3, 1, 3, 7, 0, 0, 2, 3, 5, 6, 1, 3};
      std::vector<float> out(12 * 5), grad(8 * 5);
      recc_rt_gather_f32(out.data(), table.data(), ids.data(), 12, 5, 5, 8, 0.f);
      recc_rt_scatter_add_f32(grad.data(), ids.data(), g.data(), 12, 5, 8, 1);
      out.insert(out.end(), grad.begin(), grad.end());
      for (int64_t dim : {1, 20}) {  // scatter_add's other paths: one float a row, and wide rows
        auto gw = randomVec(12 * dim, 42);
        std::vector<float> gradw(static_cast<size_t>(8 * dim));
        recc_rt_scatter_add_f32(gradw.data(), ids.data(), gw.data(), 12, dim, 8, 1);
        out.insert(out.end(), gradw.begin(), gradw.end());
      }
      return out;
    }, threads);
    for (int kind = 0; kind < 3; ++kind)
      expectThreadInvariant("update and sparse_update", [&] {
        ReccOptimizer opt{kind, 0.1f, 0.9f, 0.999f, 1e-8f, 0.01f, 2};
        auto p = randomVec(40, 42), g = randomVec(40, 43), mm = randomVec(40, 44), v = randomVec(40, 45);
        for (float& x : v) x = x * x;
        recc_rt_update_f32(&opt, p.data(), g.data(), mm.data(), v.data(), 40);
        std::vector<int32_t> ids = {3, 1, 3, 7, 0, 2};
        const int32_t* idp[] = {ids.data()};
        const float* gp[] = {g.data()};
        const int64_t counts[] = {6};
        recc_rt_sparse_update_f32(&opt, p.data(), mm.data(), v.data(), 8, 5, 5, 1, idp, gp, counts);
        p.insert(p.end(), mm.begin(), mm.end());
        p.insert(p.end(), v.begin(), v.end());
        return p;
      }, threads);
  }
}

TEST(Kernels, SymbolTableListsEveryKernel) {
  std::set<std::string> names;
  for (auto& [name, addr] : recc::kernelSymbols()) {
    EXPECT_NE(addr, nullptr) << name;
    EXPECT_EQ(name.rfind("recc_rt_", 0), 0u) << name;
    names.insert(name);
  }
  for (const char* want : {"recc_rt_matmul_f32", "recc_rt_gather_f32", "recc_rt_scatter_add_f32",
                           "recc_rt_update_f32", "recc_rt_batch_matmul_f32", "recc_rt_softmax_f32",
                           "recc_rt_layer_norm_f32", "recc_rt_batch_moments_f32", "recc_rt_shard_sum_f32", "recc_rt_cross_entropy_f32",
                           "recc_rt_positional_encoding_f32", "recc_rt_conv1d_f32", "recc_rt_unfold1d_f32",
                           "recc_rt_fold1d_f32", "recc_rt_sparse_update_f32", "recc_rt_parallel_for", "recc_rt_run_calls"})
    EXPECT_TRUE(names.count(want)) << want;
}

// A run list (the entry's tables of loops and products): in order, sizes scaled by the batch's
// powers, buffers found in the arena (word >= 0) or the run's slots (word -1 - k).
TEST(Kernels, RunCallsRunsLoopsAndProductsInOrder) {
  static std::vector<std::array<int64_t, 4>> seen;  // (desc[0], batch, lo, hi) of every loop piece
  seen.clear();
  ReccLoopFn loop = [](int64_t batch, void**, uint8_t* arena, const int64_t* desc, int64_t lo, int64_t hi) {
    seen.push_back({desc[0], batch, lo, hi});
    float* out = reinterpret_cast<float*>(arena);  // the product's result, when it has run
    for (int64_t i = lo; i < hi; ++i) out[i] *= 2;
  };
  const int64_t batch = 3, m = 3, n = 4, k = 5;  // the product: [batch, k] x [k, n]
  auto a = randomVec(static_cast<size_t>(m * k), 1), b = randomVec(static_cast<size_t>(k * n), 2);
  std::vector<float> arena(static_cast<size_t>(m * n), -1.f);
  void* slots[2] = {b.data(), a.data()};
  const int64_t first[1] = {7}, second[1] = {8};
  const int64_t product[5] = {0, -1 - 1, -1 - 0, 0, 0};  // out in the arena, a in slot 1, b in slot 0
  const ReccCall calls[3] = {
      {loop, first, {2, 0, 0}, {0, 0, 0}},         // extent 2, too small to share
      {nullptr, product, {1, n, k}, {1, 0, 0}},    // m = 1 * batch
      {loop, second, {n, 1, 0}, {1, 1, 0}},        // extent n * batch: doubles the product
  };
  recc_rt_run_calls(calls, 3, batch, slots, reinterpret_cast<uint8_t*>(arena.data()));
  ASSERT_EQ(seen.size(), 2u) << "small loops run in one piece";
  EXPECT_EQ(seen[0], (std::array<int64_t, 4>{7, batch, 0, 2}));
  EXPECT_EQ(seen[1], (std::array<int64_t, 4>{8, batch, 0, n * batch}));
  std::vector<float> want = naiveMatmul(a, b, m, n, k, false, false);
  for (size_t i = 0; i < want.size(); ++i) EXPECT_NEAR(arena[i], 2 * want[i], 1e-4) << i;
}

TEST(Kernels, BatchMatmulSharesAStrideZeroOperand) {
  const int64_t batch = 3, m = 2, n = 4, k = 5;
  auto a = randomVec(batch * m * k, 5), w = randomVec(k * n, 6);
  std::vector<float> out(batch * m * n, 7.f);
  recc_rt_batch_matmul_f32(out.data(), a.data(), w.data(), batch, m, n, k, 0, 0, m * k, 0);
  for (int64_t l = 0; l < batch; ++l) {
    std::vector<float> al(a.begin() + l * m * k, a.begin() + (l + 1) * m * k);
    auto want = naiveMatmul(al, w, m, n, k, false, false);
    for (int64_t i = 0; i < m * n; ++i) EXPECT_NEAR(out[l * m * n + i], want[i], 1e-4) << l << "," << i;
  }
}

TEST(Kernels, BatchMatmulSmallAndLargeProductsMatchNaiveLoops) {
  // The tiled kernel (Gemm.h) on small items: partial vectors, a second 64-column panel (70),
  // remainder rows, a shared operand; all four transposes.
  for (int ta = 0; ta < 2; ++ta)
    for (int tb = 0; tb < 2; ++tb)
      for (int64_t n : {3, 16, 21, 40, 64, 70})
        for (int64_t m : {1, 5, 21})
          for (int shared = 0; shared < 2; ++shared) {
            const int64_t batch = 3, k = 7;
            auto a = randomVec(batch * m * k, 12), b = randomVec(batch * k * n, 13);
            std::vector<float> out(batch * m * n, 7.f);
            const int64_t sb = shared ? 0 : k * n;
            recc_rt_batch_matmul_f32(out.data(), a.data(), b.data(), batch, m, n, k, ta, tb, m * k, sb);
            for (int64_t l = 0; l < batch; ++l) {
              std::vector<float> al(a.begin() + l * m * k, a.begin() + (l + 1) * m * k);
              std::vector<float> bl(b.begin() + l * sb, b.begin() + l * sb + k * n);
              auto want = naiveMatmul(al, bl, m, n, k, ta, tb);
              for (int64_t i = 0; i < m * n; ++i)
                ASSERT_NEAR(out[l * m * n + i], want[i], 1e-4)
                    << "ta " << ta << " tb " << tb << " m " << m << " n " << n << " item " << l << " at " << i;
            }
          }
}

TEST(Kernels, SoftmaxOfAFullyMaskedRowIsUniform) {
  std::vector<float> x = {-1e9f, -1e9f, -1e9f, -1e9f, 0, 1, 2, 3};
  std::vector<float> y(8), ly(8);
  recc_rt_softmax_f32(y.data(), x.data(), 2, 4, 1, 0);
  recc_rt_softmax_f32(ly.data(), x.data(), 2, 4, 1, 1);
  for (int i = 0; i < 4; ++i) {
    EXPECT_FLOAT_EQ(y[i], 0.25f);
    EXPECT_FLOAT_EQ(ly[i], std::log(0.25f));
  }
  double sum = 0;
  for (int i = 4; i < 8; ++i) sum += y[i];
  EXPECT_NEAR(sum, 1.0, 1e-6);
  EXPECT_NEAR(y[7] / y[6], std::exp(1.0), 1e-5);
}

// Rows longer than layer norm's lanes (four blocks of 8 and a tail): softmax, log-softmax and
// layer norm against the formulas in double.
TEST(Kernels, SoftmaxAndLayerNormOfLongRowsMatchDouble) {
  const int64_t rows = 3, len = 37;
  auto x = randomVec(rows * len, 21), g = randomVec(len, 22), b = randomVec(len, 23);
  for (float& v : x) v *= 4;
  std::vector<float> y(rows * len), ly(rows * len), z(rows * len);
  recc_rt_softmax_f32(y.data(), x.data(), rows, len, 1, 0);
  recc_rt_softmax_f32(ly.data(), x.data(), rows, len, 1, 1);
  recc_rt_layer_norm_f32(z.data(), x.data(), g.data(), b.data(), rows, len, 1e-5f);
  for (int64_t r = 0; r < rows; ++r) {
    const float* xr = x.data() + r * len;
    double mx = xr[0], sum = 0, mean = 0, var = 0;
    for (int64_t q = 0; q < len; ++q) mx = std::max(mx, static_cast<double>(xr[q]));
    for (int64_t q = 0; q < len; ++q) sum += std::exp(xr[q] - mx);
    for (int64_t q = 0; q < len; ++q) mean += xr[q] / static_cast<double>(len);
    for (int64_t q = 0; q < len; ++q) var += (xr[q] - mean) * (xr[q] - mean) / static_cast<double>(len);
    for (int64_t q = 0; q < len; ++q) {
      const size_t i = static_cast<size_t>(r * len + q);
      EXPECT_NEAR(y[i], std::exp(xr[q] - mx) / sum, 1e-6) << r << "," << q;
      EXPECT_NEAR(ly[i], xr[q] - mx - std::log(sum), 1e-5) << r << "," << q;
      EXPECT_NEAR(z[i], (xr[q] - mean) / std::sqrt(var + 1e-5) * g[static_cast<size_t>(q)] + b[static_cast<size_t>(q)], 1e-5)
          << r << "," << q;
    }
  }
}

// Rows along the last axis take a contiguous path; the buffer planner may give the output the
// input's buffer. In place, both paths must give what they give out of place.
TEST(Kernels, SoftmaxInPlaceMatchesOutOfPlace) {
  const int64_t outer = 5, len = 21;  // 21: vector body and scalar tail
  for (int64_t inner : {int64_t{1}, int64_t{3}})
    for (int32_t log : {0, 1}) {
      auto x = randomVec(outer * len * inner, 31);
      std::vector<float> y(x.size()), z = x;
      recc_rt_softmax_f32(y.data(), x.data(), outer, len, inner, log);
      recc_rt_softmax_f32(z.data(), z.data(), outer, len, inner, log);
      EXPECT_EQ(y, z) << "inner " << inner << " log " << log;
    }
}

TEST(Kernels, Conv1dMatchesDirectLoops) {
  const int64_t n = 2, len = 6, cin = 3, cout = 4, kernel = 3, stride = 2, pad = 1;
  const int64_t outLen = (len + 2 * pad - kernel) / stride + 1;
  auto x = randomVec(n * len * cin, 7), w = randomVec(kernel * cin * cout, 8), bias = randomVec(cout, 9);
  std::vector<float> out(n * outLen * cout, 5.f);
  recc_rt_conv1d_f32(out.data(), x.data(), w.data(), bias.data(), n, len, cin, cout, kernel, stride, pad, outLen);
  for (int64_t b = 0; b < n; ++b)
    for (int64_t t = 0; t < outLen; ++t)
      for (int64_t o = 0; o < cout; ++o) {
        double acc = bias[o];
        for (int64_t k = 0; k < kernel; ++k) {
          int64_t src = t * stride + k - pad;
          if (src < 0 || src >= len) continue;
          for (int64_t c = 0; c < cin; ++c) acc += x[(b * len + src) * cin + c] * w[(k * cin + c) * cout + o];
        }
        EXPECT_NEAR(out[(b * outLen + t) * cout + o], acc, 1e-4);
      }
}

TEST(Kernels, FoldIsTheAdjointOfUnfold) {
  // <unfold(x), c> == <x, fold(c)> for any x, c.
  const int64_t n = 2, len = 5, ch = 2, kernel = 3, stride = 2, pad = 2;
  const int64_t outLen = (len + 2 * pad - kernel) / stride + 1;
  auto x = randomVec(n * len * ch, 10), c = randomVec(n * outLen * kernel * ch, 11);
  std::vector<float> ux(c.size()), fc(x.size(), 3.f);
  recc_rt_unfold1d_f32(ux.data(), x.data(), n, len, ch, kernel, stride, pad, outLen);
  recc_rt_fold1d_f32(fc.data(), c.data(), n, len, ch, kernel, stride, pad, outLen);
  double lhs = 0, rhs = 0;
  for (size_t i = 0; i < c.size(); ++i) lhs += ux[i] * c[i];
  for (size_t i = 0; i < x.size(); ++i) rhs += x[i] * fc[i];
  EXPECT_NEAR(lhs, rhs, 1e-4);
}

TEST(Kernels, BatchMomentsUpdateRunningStatisticsInPlace) {
  std::vector<float> x = {1, 2, 3, 6}, rm = {0, 0}, rv = {1, 1}, out(4);
  recc_rt_batch_moments_f32(nullptr, out.data(), x.data(), rm.data(), rv.data(), 2, 2, 1e-5f, 0.1f);
  EXPECT_NEAR(rm[0], 0.2f, 1e-6);
  EXPECT_NEAR(rm[1], 0.4f, 1e-6);
  EXPECT_NEAR(rv[0], 1.1f, 1e-6);  // unbiased batch variance 2
  EXPECT_NEAR(rv[1], 1.7f, 1e-6);  // unbiased batch variance 8
  EXPECT_NEAR(out[0], 2.f, 1e-6);  // means
  EXPECT_NEAR(out[1], 4.f, 1e-6);
  EXPECT_NEAR(out[2], 1 / std::sqrt(1.f + 1e-5f), 1e-6);  // biased variances 1 and 4
  EXPECT_NEAR(out[3], 1 / std::sqrt(4.f + 1e-5f), 1e-6);
}

// Shards of one batch on threads of their own (as ShardedGraph runs them when the pool cannot).
template <class F>
void onShards(int shards, F&& f) {
  ReccShardGroup group(shards);
  std::vector<std::thread> threads;
  for (int c = 0; c < shards; ++c) threads.emplace_back([&, c] {
    const ReccShard self{&group, c};
    f(&self, c);
  });
  for (std::thread& t : threads) t.join();
}

TEST(Shards, ShardSumAddsEveryShardsOperandInShardOrder) {
  std::vector<float> in = {1, 2, 3}, out(3, -1);
  recc_rt_shard_sum_f32(nullptr, out.data(), in.data(), 3);  // the whole batch: a copy
  EXPECT_EQ(out, in);
  const int shards = 3;
  std::vector<std::vector<float>> ins(shards), outs(shards, std::vector<float>(4));
  for (int c = 0; c < shards; ++c) ins[static_cast<size_t>(c)] = randomVec(4, static_cast<unsigned>(40 + c));
  for (int round = 0; round < 50; ++round)  // the barrier is reusable
    onShards(shards, [&](const ReccShard* s, int c) {
      recc_rt_shard_sum_f32(s, outs[static_cast<size_t>(c)].data(), ins[static_cast<size_t>(c)].data(), 4);
    });
  for (size_t i = 0; i < 4; ++i) {
    const float want = (ins[0][i] + ins[1][i]) + ins[2][i];
    for (int c = 0; c < shards; ++c) EXPECT_EQ(outs[static_cast<size_t>(c)][i], want) << c;
  }
}

TEST(Shards, BatchMomentsInShardsAreTheWholeBatchs) {
  const int64_t rows = 11, dim = 5;
  const auto x = randomVec(static_cast<size_t>(rows * dim), 50);
  std::vector<float> rm(dim, 0.f), rv(dim, 1.f), out(static_cast<size_t>(2 * dim));
  recc_rt_batch_moments_f32(nullptr, out.data(), x.data(), rm.data(), rv.data(), rows, dim, 1e-5f, 0.1f);
  std::vector<float> rm3(dim, 0.f), rv3(dim, 1.f);
  std::vector<std::vector<float>> out3(3, std::vector<float>(static_cast<size_t>(2 * dim)));
  const int64_t begin[] = {0, 4, 8, 11};  // 4 + 4 + 3 rows
  onShards(3, [&](const ReccShard* s, int c) {
    const int64_t lo = begin[c], n = begin[c + 1] - lo;
    recc_rt_batch_moments_f32(s, out3[static_cast<size_t>(c)].data(), x.data() + lo * dim, rm3.data(), rv3.data(), n,
                              dim, 1e-5f, 0.1f);
  });
  for (const std::vector<float>& shard : out3)  // every shard has the whole batch's moments
    for (size_t i = 0; i < out.size(); ++i) EXPECT_NEAR(shard[i], out[i], 1e-6) << i;
  for (size_t d = 0; d < static_cast<size_t>(dim); ++d) {  // updated once, by shard 0
    EXPECT_NEAR(rm3[d], rm[d], 1e-7) << d;
    EXPECT_NEAR(rv3[d], rv[d], 1e-6) << d;
  }
}

// Gang chunks run at once, one per thread (they may wait for each other: a barrier would never
// be passed if one thread ran both), and the call refuses what it cannot run that way.
TEST(Threads, GangChunksRunAtOnceOnThreadsOfTheirOwn) {
  recc_set_threads(2);
  struct Ctx {
    ReccShardGroup group{2};
    std::thread::id ran[2];
  } ctx;
  auto fn = [](void* p, int c, int64_t, int64_t) {
    auto* x = static_cast<Ctx*>(p);
    recc::shardBarrier(x->group);
    x->ran[c] = std::this_thread::get_id();
  };
  for (int round = 0; round < 100; ++round) ASSERT_TRUE(recc::parallelGang(2, fn, &ctx));
  EXPECT_EQ(ctx.ran[0], std::this_thread::get_id());
  EXPECT_NE(ctx.ran[1], ctx.ran[0]);
  EXPECT_FALSE(recc::parallelGang(3, fn, &ctx)) << "more chunks than threads";
  bool nested = true;
  recc::parallelChunks(2, 2, [](void* p, int, int64_t, int64_t) {
    Ctx inner;
    *static_cast<bool*>(p) &= !recc::parallelGang(2, [](void*, int, int64_t, int64_t) {}, &inner);
  }, &nested);
  EXPECT_TRUE(nested) << "a gang from inside a parallel region is refused";
  recc_set_threads(0);
}

// A JIT loop's pieces write their own results, so inside a shard (a gang chunk: the pool is
// taken) its range is one call rather than the chunks one after another; with the pool free it
// is shared out in chunks.
TEST(Threads, LoopsInsideAShardRunTheirRangeInOneCall) {
  recc_set_threads(2);
  const double minWork = recc::setMinWorkPerChunk(1);
  static std::mutex mu;
  static std::multiset<std::pair<int64_t, int64_t>> pieces;
  pieces.clear();
  ReccLoopFn loop = [](int64_t, void**, uint8_t*, const int64_t*, int64_t lo, int64_t hi) {
    std::lock_guard<std::mutex> lock(mu);
    pieces.insert({lo, hi});
  };
  recc_rt_parallel_for(loop, 1, nullptr, nullptr, nullptr, 100, 1000);
  EXPECT_EQ(pieces, (std::multiset<std::pair<int64_t, int64_t>>{{0, 50}, {50, 100}}));
  pieces.clear();
  ASSERT_TRUE(recc::parallelGang(2, [](void* fn, int, int64_t, int64_t) {
    recc_rt_parallel_for(*static_cast<ReccLoopFn*>(fn), 1, nullptr, nullptr, nullptr, 100, 1000);
  }, &loop));
  EXPECT_EQ(pieces, (std::multiset<std::pair<int64_t, int64_t>>{{0, 100}, {0, 100}})) << "one call per shard";
  recc::setMinWorkPerChunk(minWork);
  recc_set_threads(0);
}

// Without --threads, the count is the machine's (or RECC_THREADS), read once: every parallel
// region asks for it, and asking the C library for the core count opens a sysfs file each time.
TEST(Threads, TheDefaultThreadCountIsReadOnce) {
  recc_set_threads(0);
  const int first = recc_get_threads();
  ASSERT_GE(first, 1);
  const char* old = std::getenv("RECC_THREADS");
  const std::string saved = old ? old : "";
  setenv("RECC_THREADS", first == 3 ? "5" : "3", 1);
  EXPECT_EQ(recc_get_threads(), first);
  if (old) setenv("RECC_THREADS", saved.c_str(), 1);
  else unsetenv("RECC_THREADS");
  recc_set_threads(2);
  EXPECT_EQ(recc_get_threads(), 2) << "--threads still overrides it";
  recc_set_threads(0);
}

// Back-to-back gang regions, each with its own context on the caller's stack (as a sharded
// step runs them), mixed with ordinary regions: every gang chunk runs once, with its own
// region's context. A worker still holding the previous gang's ticket must not claim the next
// gang's chunk (it would run a finished region's context, and the caller would wait forever).
TEST(Threads, BackToBackGangRegionsRunEachChunkOnceWithItsOwnContext) {
  recc_set_threads(2);
  std::atomic<int> wrong{0};
  for (int round = 0; round < 5000; ++round) {
    struct Ctx {
      int round;
      int ran[2];
      std::atomic<int>* wrong;
    } ctx{round, {0, 0}, &wrong};
    ASSERT_TRUE(recc::parallelGang(2, [](void* p, int c, int64_t, int64_t) {
      auto* x = static_cast<Ctx*>(p);
      ++x->ran[c];
    }, &ctx));
    if (ctx.ran[0] != 1 || ctx.ran[1] != 1) wrong.fetch_add(1);
    if (round % 3 == 0) {
      std::atomic<int64_t> sum{0};
      recc::parallelChunks(4, 2, [](void* p, int, int64_t lo, int64_t hi) {
        static_cast<std::atomic<int64_t>*>(p)->fetch_add(hi - lo);
      }, &sum);
      if (sum.load() != 4) wrong.fetch_add(1);
    }
  }
  EXPECT_EQ(wrong.load(), 0);
  recc_set_threads(0);
}

TEST(Kernels, CrossEntropySkipsIgnoredAndOutOfRangeTargets) {
  std::vector<float> z = {1, 2, 3, 1, 2, 3, 1, 2, 3};
  std::vector<int32_t> t = {2, 0, 7};
  std::vector<float> out(3, 9.f);
  recc_rt_cross_entropy_f32(out.data(), z.data(), t.data(), 3, 3, 0);
  EXPECT_NEAR(out[0], 0.40760596f, 1e-6);
  EXPECT_EQ(out[1], 0.f);
  EXPECT_EQ(out[2], 0.f);
}

}  // namespace

namespace {

// Whether the mapping holding p is advised onto transparent huge pages: the kernel marks it
// "hg" in its VmFlags line in /proc/self/smaps.
bool advisedOntoHugePages(const void* p) {
  const auto at = reinterpret_cast<uintptr_t>(p);
  std::ifstream smaps("/proc/self/smaps");
  std::string line, flags;
  bool inside = false;
  while (std::getline(smaps, line)) {
    uintptr_t lo = 0, hi = 0;
    if (std::sscanf(line.c_str(), "%lx-%lx ", &lo, &hi) == 2 && line.find(':') > line.find(' ')) inside = lo <= at && at < hi;
    if (inside && line.rfind("VmFlags:", 0) == 0) flags = line;
  }
  return flags.find(" hg") != std::string::npos;
}

bool hugePagesAvailable() { return static_cast<bool>(std::ifstream("/sys/kernel/mm/transparent_hugepage/enabled")); }

}  // namespace

// Parameter buffers are zeros; large ones are advised onto transparent huge pages before they
// are touched.
TEST(Memory, LargeBuffersAreZeroAndAdvisedOntoHugePages) {
  std::vector<float> small = recc::zeroed<float>(1000);
  ASSERT_EQ(small.size(), 1000u);
  for (float x : small) ASSERT_EQ(x, 0.0f);
  const size_t n = size_t{40} << 20;  // 160 MiB of floats
  std::vector<float> big = recc::zeroed<float>(n);
  ASSERT_EQ(big.size(), n);
  EXPECT_EQ(big.front(), 0.0f);
  EXPECT_EQ(big[n / 2], 0.0f);
  EXPECT_EQ(big.back(), 0.0f);
  if (!hugePagesAvailable()) GTEST_SKIP() << "no transparent huge pages";
  EXPECT_TRUE(advisedOntoHugePages(big.data() + n / 2));
}

// The compiled arenas: a block of 32 MiB or more gets 2 MiB alignment and the advice; a
// smaller one neither.
TEST(Memory, LargeArenasAreAlignedAndAdvisedOntoHugePages) {
  EXPECT_EQ(recc::hugePageAlignment(size_t{1} << 20, 64), 64u);
  const size_t bytes = size_t{48} << 20;
  const size_t align = recc::hugePageAlignment(bytes, 64);
  EXPECT_EQ(align, size_t{2} << 20);
  std::unique_ptr<char, decltype(&std::free)> block(static_cast<char*>(std::aligned_alloc(align, bytes)), &std::free);
  ASSERT_TRUE(block);
  recc::adviseHugePages(block.get(), bytes);
  std::memset(block.get(), 0, bytes);
  if (!hugePagesAvailable()) GTEST_SKIP() << "no transparent huge pages";
  EXPECT_TRUE(advisedOntoHugePages(block.get() + bytes / 2));
}
