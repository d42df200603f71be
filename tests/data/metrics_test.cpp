// computeMetrics and metricsJson against hand-computed values and a brute-force AUC.
#include <cmath>
#include <random>

#include "runtime/data/Metrics.h"
#include "tests/data/DataTestUtil.h"

namespace recc {
namespace {

/// O(n^2) pair counting: P(score_pos > score_neg) + 0.5 P(tie), the definition of AUC.
double bruteAuc(const std::vector<float>& p, const std::vector<float>& y) {
  double wins = 0, pairs = 0;
  for (size_t i = 0; i < p.size(); ++i)
    for (size_t j = 0; j < p.size(); ++j)
      if (y[i] == 1 && y[j] == 0) {
        pairs += 1;
        wins += p[i] > p[j] ? 1 : p[i] == p[j] ? 0.5 : 0;
      }
  return wins / pairs;
}

TEST(Metrics, HandComputedWithTies) {
  // Pairs (pos, neg): 0.4>0.1, 0.4=0.4 (half), 0.8>0.1, 0.8>0.4 -> 3.5 / 4.
  Metrics m = computeMetrics({0.1f, 0.4f, 0.4f, 0.8f}, {0, 0, 1, 1});
  EXPECT_DOUBLE_EQ(m.auc, 0.875);
  EXPECT_EQ(m.count, 4);
  // Threshold 0.5: only 0.8 is predicted positive -> TP 1, FP 0, FN 1, TN 2.
  EXPECT_DOUBLE_EQ(m.accuracy, 0.75);
  EXPECT_DOUBLE_EQ(m.precision, 1.0);
  EXPECT_DOUBLE_EQ(m.recall, 0.5);
  double ll = -(std::log(1 - 0.1) + std::log(1 - 0.4) + std::log(0.4) + std::log(0.8)) / 4;
  EXPECT_NEAR(m.logloss, ll, 1e-6);
}

TEST(Metrics, AucMatchesBruteForceWithManyTies) {
  std::mt19937 gen(7);
  std::vector<float> p(500), y(500);
  for (size_t i = 0; i < p.size(); ++i) {
    p[i] = static_cast<float>(gen() % 10) / 10;  // only 10 distinct scores: many ties
    y[i] = static_cast<float>((gen() % 100) < 30 + 40 * p[i]);
  }
  EXPECT_NEAR(computeMetrics(p, y).auc, bruteAuc(p, y), 1e-12);
}

TEST(Metrics, PerfectAndReversed) {
  EXPECT_DOUBLE_EQ(computeMetrics({0.1f, 0.2f, 0.9f}, {0, 0, 1}).auc, 1.0);
  EXPECT_DOUBLE_EQ(computeMetrics({0.9f, 0.8f, 0.1f}, {0, 0, 1}).auc, 0.0);
}

TEST(Metrics, OneClassAndEdgeCases) {
  Metrics m = computeMetrics({0.2f, 0.3f}, {0, 0});
  EXPECT_DOUBLE_EQ(m.auc, 0.5);
  EXPECT_DOUBLE_EQ(m.precision, 0.0);  // no predicted positives
  EXPECT_DOUBLE_EQ(m.recall, 0.0);     // no positives
  EXPECT_DOUBLE_EQ(m.accuracy, 1.0);
  // Clipping: a confident wrong answer costs -log(1e-7), not infinity.
  Metrics c = computeMetrics({0.0f}, {1});
  EXPECT_NEAR(c.logloss, -std::log(1e-7), 1e-9);
  EXPECT_THROW(computeMetrics({0.5f}, {1, 0}), DataError);
  EXPECT_EQ(computeMetrics({}, {}).count, 0);
}

TEST(Metrics, JsonFullPrecisionAndExtras) {
  Metrics m;
  m.auc = 0.1;
  m.logloss = 1.0 / 3;
  m.count = 12;
  std::string j = metricsJson(m, {{"epoch", 2}});
  EXPECT_EQ(j,
            "{\"auc\": 0.10000000000000001, \"logloss\": 0.33333333333333331, \"accuracy\": 0, "
            "\"precision\": 0, \"recall\": 0, \"count\": 12, \"epoch\": 2}");
  m.logloss = NAN;
  EXPECT_CONTAINS(metricsJson(m), "\"logloss\": null");
}

}  // namespace
}  // namespace recc
