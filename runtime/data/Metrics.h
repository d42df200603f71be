// Binary classification metrics.
#pragma once
#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace recc {

struct Metrics {
  double auc = 0, logloss = 0, accuracy = 0, precision = 0, recall = 0;
  int64_t count = 0;
};

/// AUC (rank-based, ties get the average rank; 0.5 when only one class is present, where it
/// is undefined), mean logloss (probabilities clipped to [1e-7, 1-1e-7]), accuracy/precision/
/// recall with prob >= 0.5 predicting positive (precision = 0 with no predicted positives,
/// recall = 0 with no positives). Labels >= 0.5 count as positive. Sizes must match.
Metrics computeMetrics(const std::vector<float>& prob, const std::vector<float>& label);

/// {"auc": ..., "logloss": ..., "accuracy": ..., "precision": ..., "recall": ..., "count": ...}
/// plus `extra` entries; numbers printed with full precision (%.17g), non-finite as null.
std::string metricsJson(const Metrics& m, const std::map<std::string, double>& extra = {});

}  // namespace recc
