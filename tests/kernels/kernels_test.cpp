// Tests of the Eigen runtime kernels against naive loops (matmul, gather, scatter_add).
#include <gtest/gtest.h>

#include <cmath>
#include <random>
#include <set>
#include <vector>

#include "runtime/kernels/Kernels.h"

namespace {

std::vector<float> randomVec(size_t n, uint32_t seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> d(0.f, 1.f);
  std::vector<float> v(n);
  for (float& x : v) x = d(rng);
  return v;
}

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
  auto a = randomVec(m * k, 1), b = randomVec(k * n, 2);
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
  recc_rt_gather_f32(out.data(), table.data(), ids.data(), 4, dim, rows, 0.f);
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
  recc_rt_gather_f32(out.data(), table.data(), ids.data(), 4, dim, rows, maxNorm);
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
  recc_rt_scatter_add_f32(out.data(), ids.data(), g.data(), 5, dim, rows);
  std::vector<float> want(rows * dim, 0.f);
  for (size_t i = 0; i < ids.size(); ++i)
    for (int64_t d = 0; d < dim; ++d) want[ids[i] * dim + d] += g[i * dim + d];
  for (size_t i = 0; i < out.size(); ++i) EXPECT_NEAR(out[i], want[i], 1e-6) << i;
  for (int64_t d = 0; d < dim; ++d) EXPECT_EQ(out[2 * dim + d], 0.f);  // untouched rows zeroed
}

TEST(Kernels, SymbolTableListsEveryKernel) {
  std::set<std::string> names;
  for (auto& [name, addr] : recc::kernelSymbols()) {
    EXPECT_NE(addr, nullptr) << name;
    EXPECT_EQ(name.rfind("recc_rt_", 0), 0u) << name;
    names.insert(name);
  }
  for (const char* want : {"recc_rt_matmul_f32", "recc_rt_gather_f32", "recc_rt_scatter_add_f32",
                           "recc_rt_update_f32"})
    EXPECT_TRUE(names.count(want)) << want;
}

}  // namespace
