// Ranking evaluation for sequence models (--rank-eval): HR@K and NDCG@K of each positive test
// row's target item against sampled items the user never rated.
#pragma once
#include <cstdint>

#include "compiler/ir/Graph.h"
#include "runtime/data/Dataset.h"
#include "runtime/reference/Evaluator.h"
#include "tools/driver/Engine.h"

namespace recc {

struct RankMetrics {
  double hr = 0, ndcg = 0;
  int64_t k = 10, negatives = 99, rows = 0;
};

/// For every test row with label 1: score its target against `negatives` items drawn (seeded)
/// from the items seen as targets that the user never rated in either file; rank = number of
/// negatives scoring >= the target (ties count against it). Item features are the inputs named
/// target_* (their values are copied from a row where the candidate is the target). Users are
/// identified by the raw CSV column user_id. Throws DataError if the model or data lack these.
RankMetrics rankEvaluate(Engine& eng, const Graph& inf, size_t probOutput, const CsvTable& trainCsv,
                         const Dataset& train, const CsvTable& testCsv, const Dataset& test,
                         ParamState& state, uint64_t seed, int64_t maxBatch, int64_t k = 10,
                         int64_t negatives = 99);

}  // namespace recc
