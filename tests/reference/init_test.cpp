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

// A table stored as row records ([w | m | v] per row) gets the values a dense table of its
// shape gets, in the first columns of each record, zero moments, and reads and writes back as
// dense arrays (what checkpoints hold) unchanged.
TEST(InitParams, RowRecordsHoldTheDenseValuesAndZeroMoments) {
  ParamDecl table{"emb", {6, 5}, "normal", 0.5, true, {}};
  ParamDecl bias{"b", {3}, "uniform", 0.2, false, {}};
  Graph dense = params({table, bias});
  table.sparseUpdate = table.rowRecords = true;
  Graph records = params({table, bias});
  ParamState d = initParams(dense, 11), r = initParams(records, 11);
  ASSERT_EQ(r.values[0].size(), 3 * d.values[0].size());
  EXPECT_TRUE(r.m[0].empty() && r.v[0].empty());
  EXPECT_EQ(denseParam(records, r, 0, 0), d.values[0]);
  EXPECT_EQ(denseParam(records, r, 0, 1), std::vector<float>(30, 0.0f));
  EXPECT_EQ(denseParam(records, r, 0, 2), std::vector<float>(30, 0.0f));
  EXPECT_EQ(r.values[1], d.values[1]);  // the next parameter's draw is unchanged
  for (int64_t row = 0; row < 6; ++row)
    EXPECT_EQ(std::vector<float>(r.values[0].begin() + row * 15, r.values[0].begin() + row * 15 + 5),
              std::vector<float>(d.values[0].begin() + row * 5, d.values[0].begin() + row * 5 + 5));
  std::vector<float> w(30), m(30), v(30);
  for (size_t i = 0; i < 30; ++i) {
    w[i] = static_cast<float>(i);
    m[i] = static_cast<float>(100 + i);
    v[i] = static_cast<float>(200 + i);
  }
  setDenseParam(records, r, 0, w, m, v);
  EXPECT_EQ(r.values[0][15 + 5], 105.0f);  // row 1's m[0]
  EXPECT_EQ(r.values[0][15 + 10], 205.0f);  // row 1's v[0]
  EXPECT_EQ(denseParam(records, r, 0, 0), w);
  EXPECT_EQ(denseParam(records, r, 0, 1), m);
  EXPECT_EQ(denseParam(records, r, 0, 2), v);
  EXPECT_EQ(momentData(records, r, 0, 2), r.values[0].data() + 10);
  setDenseParam(records, r, 0, w, {}, {});  // a checkpoint without optimizer state
  EXPECT_EQ(denseParam(records, r, 0, 1), std::vector<float>(30, 0.0f));
}

// Above 32 MiB another thread zeroes a row-record table in steps while the values are drawn
// into it: the same values as the dense table's, and zero moments.
TEST(InitParams, LargeRowRecordTablesMatchTheDenseDraw) {
  ParamDecl table{"table", {1 << 18, 33}, "normal", 0.05, true, {}};
  Graph dense = params({table});
  table.sparseUpdate = table.rowRecords = true;
  Graph records = params({table});
  ParamState d = initParams(dense, 9), r = initParams(records, 9);
  EXPECT_TRUE(denseParam(records, r, 0, 0) == d.values[0]);
  for (int part : {1, 2}) {
    std::vector<float> moment = denseParam(records, r, 0, part);
    EXPECT_EQ(std::count(moment.begin(), moment.end(), 0.0f), static_cast<long>(moment.size()));
  }
}
