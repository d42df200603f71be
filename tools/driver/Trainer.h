// The training driver: model file + CSVs -> trained parameters, metrics, checkpoint.
#pragma once
#include <cstdint>
#include <map>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "compiler/ir/Graph.h"
#include "runtime/data/Checkpoint.h"
#include "runtime/data/Dataset.h"
#include "runtime/data/Metrics.h"
#include "runtime/reference/Evaluator.h"

namespace recc {

/// Training stopped because the loss became NaN or infinite.
class DivergedError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

/// Everything `recc train` can set. Unset optionals fall back to the model's `train { }` block,
/// then to the defaults below.
struct TrainOptions {
  std::string modelPath, trainPath, testPath, outPath, metricsJsonPath;
  std::string resumePath;  // continue the run saved in this checkpoint (same model, same data)
  std::vector<std::string> includePaths;
  std::vector<std::pair<std::string, std::string>> overrides;  // --set
  std::map<std::string, std::string> flags;  // optimizer, lr, batch, epochs, seed, weight_decay, ...
  std::string engine = "jit";
  bool quiet = false;  // no progress lines
  bool rankEval = false;  // also report HR@10 / NDCG@10 (tools/driver/RankEval.h)
};

struct ResolvedTrainConfig {
  std::string optimizer = "adamw";
  double lr = 1e-3, weightDecay = 0.0, beta1 = 0.9, beta2 = 0.999, eps = 1e-8;
  int64_t batch = 1024, epochs = 3, evalBatch = 4096;
  uint64_t seed = 42;
};

struct TrainResult {
  Metrics test;
  std::vector<double> epochLoss;         // mean training loss per epoch
  double trainSamplesPerSec = 0;         // training step only, mean over epochs after the first
  double inferSamplesPerSec = 0;         // test-set forward at the inference batch
  double compileSeconds = 0;
  int64_t oovTest = 0;
  double hr10 = -1, ndcg10 = -1;  // with rankEval
  ParamState state;
};

/// Runs a whole training job; progress goes to stderr. Throws DiagError, DataError,
/// DivergedError or std::invalid_argument (bad flag value) for user errors.
TrainResult train(const TrainOptions& opts);

/// Loads a checkpoint, rebuilds its model (the source hash must match) and evaluates on `data`.
/// With `predictionsOut`, writes one row per data row with the model's outputs.
Metrics evaluateCheckpoint(const std::string& ckptPath, const std::string& dataPath,
                           const std::vector<std::string>& includePaths,
                           const std::string& predictionsOut, bool needLabels,
                           const std::string& engine);

}  // namespace recc
