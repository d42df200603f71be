// initParams: determinism per seed, declaration order, and the four initialisers' ranges.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>

#include "runtime/reference/Evaluator.h"

using namespace recc;

namespace {

Graph params(std::vector<ParamDecl> ps) {
  Graph g;
  g.params = std::move(ps);
  return g;
}

}  // namespace

TEST(InitParams, DeterministicPerSeed) {
  Graph g = params({{"a", {4, 3}, "normal", 0.1, true, {}}, {"b", {5}, "uniform", 0.2, false, {}}});
  ParamState s1 = initParams(g, 42), s2 = initParams(g, 42), s3 = initParams(g, 43);
  EXPECT_EQ(s1.values, s2.values);
  EXPECT_NE(s1.values[0], s3.values[0]);
  ASSERT_EQ(s1.m.size(), 2u);
  EXPECT_EQ(s1.m[0], std::vector<float>(12, 0.0f));
  EXPECT_EQ(s1.v[1], std::vector<float>(5, 0.0f));
}

// Above 32 MiB of values the moments are zeroed on another thread while the values are drawn.
TEST(InitParams, LargeModelsAreDeterministicWithZeroMoments) {
  Graph g = params({{"table", {1 << 18, 33}, "normal", 0.05, true, {}}, {"b", {7}, "uniform", 0.2, false, {}}});
  ParamState s1 = initParams(g, 9), s2 = initParams(g, 9);
  EXPECT_EQ(s1.values, s2.values);
  ASSERT_EQ(s1.m.size(), 2u);
  ASSERT_EQ(s1.v.size(), 2u);
  for (size_t p = 0; p < 2; ++p) {
    ASSERT_EQ(s1.m[p].size(), s1.values[p].size());
    ASSERT_EQ(s1.v[p].size(), s1.values[p].size());
    EXPECT_EQ(std::count(s1.m[p].begin(), s1.m[p].end(), 0.0f), static_cast<long>(s1.m[p].size()));
    EXPECT_EQ(std::count(s1.v[p].begin(), s1.v[p].end(), 0.0f), static_cast<long>(s1.v[p].size()));
  }
  // The same generator stream as a small model, which zeroes its moments on this thread.
  Graph small = params({{"table", {4, 33}, "normal", 0.05, true, {}}});
  EXPECT_EQ(std::vector<float>(s1.values[0].begin(), s1.values[0].begin() + 4 * 33), initParams(small, 9).values[0]);
}

TEST(InitParams, ZerosAndOnesDrawNothing) {
  // Declaration order with one generator: inserting a zeros/ones param changes no other value.
  Graph a = params({{"x", {6}, "normal", 1, false, {}}, {"y", {3}, "uniform", 1, false, {}}});
  Graph b = params({{"x", {6}, "normal", 1, false, {}}, {"z", {2, 2}, "ones", 0, false, {}},
                    {"w", {2}, "zeros", 0, false, {}}, {"y", {3}, "uniform", 1, false, {}}});
  ParamState sa = initParams(a, 5), sb = initParams(b, 5);
  EXPECT_EQ(sa.values[0], sb.values[0]);
  EXPECT_EQ(sa.values[1], sb.values[3]);
  EXPECT_EQ(sb.values[1], std::vector<float>(4, 1.0f));
  EXPECT_EQ(sb.values[2], std::vector<float>(2, 0.0f));
}

// The <pad> and <oov> rows of an embedding table start at zero; the other rows are drawn as
// for any parameter (the same values as a plain parameter of that shape).
TEST(InitParams, EmbeddingReservedRowsStartAtZero) {
  ASSERT_EQ(kReservedIds, 2);
  ParamState table = initParams(params({{"emb", {5, 3}, "normal", 0.5, true, {}}}), 3);
  ParamState plain = initParams(params({{"w", {5, 3}, "normal", 0.5, false, {}}}), 3);
  const std::vector<float>& t = table.values[0];
  EXPECT_EQ(std::vector<float>(t.begin(), t.begin() + 6), std::vector<float>(6, 0.0f));
  EXPECT_EQ(std::vector<float>(t.begin() + 6, t.end()), std::vector<float>(plain.values[0].begin() + 6, plain.values[0].end()));
  EXPECT_NE(std::count(plain.values[0].begin(), plain.values[0].begin() + 6, 0.0f), 6);
}

TEST(InitParams, DistributionsHaveTheirScale) {
  Graph g = params({{"n", {20001}, "normal", 0.5, false, {}}, {"u", {20000}, "uniform", 0.3, false, {}}});
  ParamState s = initParams(g, 1);
  double sum = 0, sq = 0;
  for (float x : s.values[0]) sum += x, sq += double(x) * x;
  double mean = sum / 20001, sd = std::sqrt(sq / 20001 - mean * mean);
  EXPECT_NEAR(mean, 0.0, 0.02);  // 5 standard errors (0.5 / sqrt(20001) = 0.0035)
  EXPECT_NEAR(sd, 0.5, 0.02);
  double umin = 1, umax = -1, usum = 0;
  for (float x : s.values[1]) umin = std::min<double>(umin, x), umax = std::max<double>(umax, x), usum += x;
  EXPECT_GE(umin, -0.3);
  EXPECT_LE(umax, 0.3);
  EXPECT_LT(umin, -0.29);  // 20000 draws reach close to both ends
  EXPECT_GT(umax, 0.29);
  EXPECT_NEAR(usum / 20000, 0.0, 0.01);
}

TEST(InitParams, BadDeclarationsAreDiagnostics) {
  EXPECT_THROW(initParams(params({{"a", {2}, "xavier", 1, false, {}}}), 1), DiagError);
  EXPECT_THROW(initParams(params({{"e", {Dim::sym_("|movie|"), 4}, "normal", 1, true, {}}}), 1), DiagError);
}
