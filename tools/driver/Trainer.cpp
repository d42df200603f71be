// The training loop: data -> vocabularies -> bound graphs -> compiled steps -> epochs -> metrics.
#include "tools/driver/Trainer.h"

#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <future>
#include <memory>

#include "compiler/frontend/Frontend.h"
#include "compiler/passes/Autodiff.h"
#include "runtime/kernels/Parallel.h"
#include "tools/driver/Engine.h"
#include "tools/driver/MemoryLimit.h"
#include "tools/driver/RankEval.h"

namespace recc {

namespace {

using Clock = std::chrono::steady_clock;
double since(Clock::time_point t) { return std::chrono::duration<double>(Clock::now() - t).count(); }

double parseNumber(const std::string& name, const std::string& v) {
  try {
    size_t used = 0;
    double d = std::stod(v, &used);
    if (used == v.size() && std::isfinite(d)) return d;
  } catch (const std::exception&) {
  }
  throw std::invalid_argument("--" + name + ": '" + v + "' is not a number");
}

int64_t parseCount(const std::string& name, const std::string& v) {
  double d = parseNumber(name, v);
  if (d < 1 || d != std::floor(d) || d > 1e12)
    throw std::invalid_argument("--" + name + ": '" + v + "' must be a positive integer");
  return static_cast<int64_t>(d);
}

std::string unquote(const std::string& s) {
  return s.size() >= 2 && s.front() == '"' && s.back() == '"' ? s.substr(1, s.size() - 2) : s;
}

ResolvedTrainConfig resolve(const Graph& g, const std::map<std::string, std::string>& flags) {
  std::map<std::string, std::string> kv;
  for (auto& [k, v] : g.train) kv[k] = unquote(v);
  for (auto& [k, v] : flags) kv[k] = v;  // command line wins over the model's train block
  ResolvedTrainConfig c;
  bool wdSet = false;
  for (auto& [k, v] : kv) {
    if (k == "optimizer") {
      if (v != "sgd" && v != "adam" && v != "adamw")
        throw std::invalid_argument("optimizer '" + v + "' is not one of sgd, adam, adamw");
      c.optimizer = v;
    } else if (k == "lr") c.lr = parseNumber(k, v);
    else if (k == "weight_decay") { c.weightDecay = parseNumber(k, v); wdSet = true; }
    else if (k == "beta1") c.beta1 = parseNumber(k, v);
    else if (k == "beta2") c.beta2 = parseNumber(k, v);
    else if (k == "eps") c.eps = parseNumber(k, v);
    else if (k == "batch") c.batch = parseCount(k, v);
    else if (k == "eval_batch") c.evalBatch = parseCount(k, v);
    else if (k == "epochs") c.epochs = parseCount(k, v);
    else if (k == "seed") c.seed = static_cast<uint64_t>(parseNumber(k, v));
    else throw std::invalid_argument("unknown training setting '" + k + "'");
  }
  if (!wdSet && c.optimizer == "adamw") c.weightDecay = 0.01;  // PyTorch's AdamW default
  if (c.lr <= 0) throw std::invalid_argument("--lr must be positive");
  return c;
}

ReccOptimizer makeOptimizer(const ResolvedTrainConfig& c) {
  ReccOptimizer o{};
  o.kind = c.optimizer == "sgd" ? 0 : c.optimizer == "adam" ? 1 : 2;
  o.lr = static_cast<float>(c.lr);
  o.beta1 = static_cast<float>(c.beta1);
  o.beta2 = static_cast<float>(c.beta2);
  o.eps = static_cast<float>(c.eps);
  o.weight_decay = static_cast<float>(c.weightDecay);
  o.step = 0;
  o.seed = static_cast<int64_t>(c.seed);
  return o;
}

/// Index of the output used for metrics: the one named "prob", else the first.
size_t metricOutput(const Graph& g) {
  if (g.outputs.empty()) throw DiagError({}, "model '" + g.model + "' has no output; add `output prob = ...`");
  for (size_t i = 0; i < g.outputs.size(); ++i)
    if (g.outputs[i].name == "prob") return i;
  return 0;
}

/// Forward pass over a whole dataset in file order; returns every output, row-major per output.
std::vector<std::vector<float>> predictAll(Engine& eng, const Graph& inf, const Dataset& d,
                                           ParamState& st, int64_t batch, double* samplesPerSec) {
  std::vector<std::vector<float>> outs(inf.outputs.size());
  std::vector<int64_t> widths;
  for (const NamedValue& o : inf.outputs) {
    int64_t w = numElements(inf.at(o.value).shape, 1);
    widths.push_back(w);
  }
  for (size_t k = 0; k < outs.size(); ++k) outs[k].resize(static_cast<size_t>(d.rows * widths[k]));
  std::vector<int64_t> order(static_cast<size_t>(d.rows));
  for (int64_t i = 0; i < d.rows; ++i) order[static_cast<size_t>(i)] = i;
  BatchBuffers buf;
  double stepSeconds = 0;
  for (int64_t b = 0; b < d.rows; b += batch) {
    int64_t n = std::min(batch, d.rows - b);
    fillBatch(d, order, b, n, buf);
    std::vector<float*> fetch;
    for (size_t k = 0; k < outs.size(); ++k) fetch.push_back(outs[k].data() + b * widths[k]);
    auto t0 = Clock::now();
    eng.run(n, buf.pointers(), st, fetch);
    stepSeconds += since(t0);
  }
  if (samplesPerSec) *samplesPerSec = stepSeconds > 0 ? static_cast<double>(d.rows) / stepSeconds : 0;
  return outs;
}

Metrics metricsFor(const Graph& g, const Dataset& d, const std::vector<float>& prob) {
  int label = -1;
  for (size_t k = 0; k < g.inputs.size(); ++k)
    if (g.inputs[k].kind == InputKind::Label) label = static_cast<int>(k);
  if (label < 0) throw DiagError({}, "model '" + g.model + "' declares no label; cannot compute metrics");
  return computeMetrics(prob, d.columns[static_cast<size_t>(label)].values);
}

/// Warns once per column of `d` whose multi-valued cells had values dropped (not silenced by
/// --quiet: it is about the data, not progress).
void warnTruncated(const Dataset& d) {
  for (const Truncation& t : d.truncations)
    std::fprintf(stderr, "recc: warning: %s\n", truncationWarning(d, t).c_str());
}

std::string absolute(const std::string& p) { return std::filesystem::absolute(p).lexically_normal().string(); }

Checkpoint makeCheckpoint(const TrainOptions& o, const Graph& g, const ParamState& st,
                          const Vocabularies& vocabs, int64_t epoch) {
  Checkpoint c;
  c.modelPath = absolute(o.modelPath);
  c.modelName = g.model;
  c.sourceHash = g.sourceHash;
  c.overrides = o.overrides;
  for (const ParamDecl& p : g.params) {
    c.paramNames.push_back(p.name);
    std::vector<int64_t> shape;
    for (const Dim& d : p.shape) shape.push_back(d.n);
    c.paramShapes.push_back(shape);
  }
  for (size_t p = 0; p < g.params.size(); ++p) {
    c.params.push_back(denseParam(g, st, p, 0));
    c.m.push_back(denseParam(g, st, p, 1));
    c.v.push_back(denseParam(g, st, p, 2));
  }
  c.optKind = st.opt.kind;
  c.step = st.opt.step;
  c.epoch = epoch;
  c.vocabs = vocabs;
  return c;
}

/// The checkpoint's parameters and optimizer state (if it has any) into st, in g's storage.
void setCheckpointParams(const Graph& g, const Checkpoint& c, ParamState& st) {
  const std::vector<float> none;
  for (size_t p = 0; p < g.params.size(); ++p)
    setDenseParam(g, st, p, c.params[p], p < c.m.size() ? c.m[p] : none, p < c.v.size() ? c.v[p] : none);
}

}  // namespace

TrainResult train(const TrainOptions& o) {
  FrontendOptions fo;
  fo.includePaths = o.includePaths;
  fo.overrides = o.overrides;
  Graph fwd = buildModel(o.modelPath, fo);
  ResolvedTrainConfig cfg = resolve(fwd, o.flags);
  if (fwd.losses.empty())
    throw DiagError({o.modelPath, 0, 0}, "model '" + fwd.model + "' has no loss; add `loss ...` to train it");

  // Resuming starts from the checkpoint's vocabularies, parameters, optimizer state and epoch;
  // the shuffle of epoch e depends only on (seed, e), so a resumed run retraces an unbroken one.
  Checkpoint resumed;
  if (!o.resumePath.empty()) {
    resumed = loadCheckpoint(o.resumePath);
    if (resumed.sourceHash != fwd.sourceHash || resumed.modelName != fwd.model || resumed.overrides != o.overrides)
      throw DataError(o.resumePath + ": was written by another model or other --set values than " + o.modelPath +
                      "; resume with the same model file and settings");
  }
  auto tLoad = Clock::now();
  Vocabularies vocabs = resumed.vocabs;
  CsvTable trainCsv = readCsv(o.trainPath, threadCount()), testCsv = readCsv(o.testPath, threadCount());
  Dataset trainSet = encode(trainCsv, fwd.inputs, vocabs, /*grow=*/true, /*needLabels=*/true, threadCount());
  Dataset testSet = encode(testCsv, fwd.inputs, vocabs, /*grow=*/false, /*needLabels=*/true, threadCount());
  double loadSeconds = since(tLoad);
  warnTruncated(trainSet);
  warnTruncated(testSet);
  bindVocabularies(fwd, vocabSizes(vocabs));

  // Parameters + Adam moments + a gradient buffer each: refuse before allocating any of it, and
  // before autodiff, whose graph would hold the oversized tables too.
  const int stateCopies = 3;
  checkModelFitsMemory(fwd, stateCopies);
  Graph step = buildTrainStep(fwd, cfg.batch);
  // Compiled for the test set: one parameter version (an epoch's) scores it once.
  Graph inf = buildInference(fwd, cfg.evalBatch, batchesServed(testSet.rows, cfg.evalBatch));
  const std::vector<ValueId> infFetches = outputValues(inf);
  // Again with the arenas the two compiled graphs will allocate: they grow with the batch.
  checkModelFitsMemory(fwd, stateCopies,
                       {planArena("training step", step, {step.loss}, cfg.batch),
                        planArena("inference", inf, infFetches, cfg.evalBatch)});
  TrainResult r;
  r.state = initParams(fwd, cfg.seed);
  r.state.opt = makeOptimizer(cfg);
  int64_t firstEpoch = 0;
  if (!o.resumePath.empty()) {
    for (size_t p = 0; p < fwd.params.size(); ++p)
      if (p >= resumed.params.size() || resumed.paramNames[p] != fwd.params[p].name ||
          static_cast<int64_t>(resumed.params[p].size()) != numElements(fwd.params[p].shape, 0))
        throw DataError(o.resumePath + ": parameter " + fwd.params[p].name + " " + shapeStr(fwd.params[p].shape) +
                        " does not match the checkpoint (was the training data different?)");
    setCheckpointParams(fwd, resumed, r.state);
    r.state.opt.step = resumed.step;
    firstEpoch = resumed.epoch;
    if (firstEpoch >= cfg.epochs)
      throw std::invalid_argument("--resume: the checkpoint already has " + std::to_string(firstEpoch) +
                                  " epochs; ask for more with --epochs N (N > " + std::to_string(firstEpoch) + ")");
  }
  // The inference graph compiles on another thread meanwhile: LLVM compiles the training
  // step's module in parts of unequal length, and the smaller graph fills the idle core.
  const auto compileStart = Clock::now();
  auto infCompile = std::async(std::launch::async, [&] { return makeEngine(o.engine, inf, infFetches, cfg.evalBatch); });
  auto stepEngine = makeEngine(o.engine, step, {step.loss}, cfg.batch);
  auto infEngine = infCompile.get();
  r.compileSeconds = since(compileStart);
  if (!o.quiet)
    std::fprintf(stderr,
                 "recc: %s: %lld parameters; train %lld rows, test %lld rows (read in %.2f s); "
                 "compiled in %.2f s\n",
                 fwd.model.c_str(), static_cast<long long>(fwd.paramCount()),
                 static_cast<long long>(trainSet.rows), static_cast<long long>(testSet.rows),
                 loadSeconds, r.compileSeconds);
  if (testSet.oovCount && !o.quiet)
    std::fprintf(stderr, "recc: %lld ids in %s were not seen in training (encoded as <oov>)\n",
                 static_cast<long long>(testSet.oovCount), o.testPath.c_str());
  r.oovTest = testSet.oovCount;

  BatchBuffers buf;
  float loss = 0;
  double laterSeconds = 0;
  int64_t laterSamples = 0;
  size_t metricOut = metricOutput(inf);
  for (int64_t epoch = firstEpoch; epoch < cfg.epochs; ++epoch) {
    std::vector<int64_t> order = shuffledOrder(trainSet.rows, cfg.seed + static_cast<uint64_t>(epoch));
    double lossSum = 0, stepSeconds = 0;
    int64_t batches = 0;
    auto lastReport = Clock::now();
    for (int64_t b = 0; b < trainSet.rows; b += cfg.batch) {
      int64_t n = std::min(cfg.batch, trainSet.rows - b);
      fillBatch(trainSet, order, b, n, buf);
      r.state.opt.step++;
      auto t0 = Clock::now();
      stepEngine->run(n, buf.pointers(), r.state, {&loss});
      stepSeconds += since(t0);
      if (!std::isfinite(loss))
        throw DivergedError("loss is " + std::string(std::isnan(loss) ? "NaN" : "infinite") + " at epoch " +
                            std::to_string(epoch + 1) + ", step " + std::to_string(r.state.opt.step) +
                            "; training stopped" + (o.outPath.empty() ? "" : " and the last good checkpoint " + o.outPath + " is kept") +
                            ". Try a lower --lr");
      lossSum += loss;
      ++batches;
      if (!o.quiet && since(lastReport) > 2.0) {
        std::fprintf(stderr, "  epoch %lld/%lld  %lld/%lld rows  %.0f samples/s  loss %.4f\n",
                     static_cast<long long>(epoch + 1), static_cast<long long>(cfg.epochs),
                     static_cast<long long>(b + n), static_cast<long long>(trainSet.rows),
                     static_cast<double>(b + n) / stepSeconds, lossSum / static_cast<double>(batches));
        lastReport = Clock::now();
      }
    }
    r.epochLoss.push_back(lossSum / static_cast<double>(batches));
    if (epoch > firstEpoch || cfg.epochs == firstEpoch + 1) {
      laterSeconds += stepSeconds;
      laterSamples += trainSet.rows;
    }
    auto outs = predictAll(*infEngine, inf, testSet, r.state, cfg.evalBatch, &r.inferSamplesPerSec);
    r.test = metricsFor(inf, testSet, outs[metricOut]);
    if (!o.quiet)
      std::fprintf(stderr, "epoch %lld/%lld  train loss %.4f  %.0f samples/s  test auc %.4f logloss %.4f\n",
                   static_cast<long long>(epoch + 1), static_cast<long long>(cfg.epochs),
                   r.epochLoss.back(), static_cast<double>(trainSet.rows) / stepSeconds, r.test.auc,
                   r.test.logloss);
    if (!o.outPath.empty()) saveCheckpoint(o.outPath, makeCheckpoint(o, fwd, r.state, vocabs, epoch + 1));
  }
  if (o.rankEval) {
    RankMetrics rm = rankEvaluate(*infEngine, inf, metricOut, trainCsv, trainSet, testCsv, testSet, r.state,
                                  cfg.seed, cfg.evalBatch);
    r.hr10 = rm.hr;
    r.ndcg10 = rm.ndcg;
    if (!o.quiet)
      std::fprintf(stderr, "rank eval: %lld positive test rows, target vs %lld unrated items: HR@%lld %.4f NDCG@%lld %.4f\n",
                   static_cast<long long>(rm.rows), static_cast<long long>(rm.negatives), static_cast<long long>(rm.k),
                   rm.hr, static_cast<long long>(rm.k), rm.ndcg);
  }
  r.trainSamplesPerSec = laterSeconds > 0 ? static_cast<double>(laterSamples) / laterSeconds : 0;
  if (!o.metricsJsonPath.empty()) {
    std::ofstream js(o.metricsJsonPath);
    std::map<std::string, double> extra = {{"train_samples_per_sec", r.trainSamplesPerSec},
                                           {"infer_samples_per_sec", r.inferSamplesPerSec},
                                           {"compile_seconds", r.compileSeconds},
                                           {"epochs", static_cast<double>(cfg.epochs)}};
    if (o.rankEval) {
      extra["hr_at_10"] = r.hr10;
      extra["ndcg_at_10"] = r.ndcg10;
    }
    js << metricsJson(r.test, extra) << "\n";
    if (!js) throw DataError(o.metricsJsonPath + ": cannot write the metrics file");
  }
  return r;
}

Metrics evaluateCheckpoint(const std::string& ckptPath, const std::string& dataPath,
                           const std::vector<std::string>& includePaths,
                           const std::string& predictionsOut, bool needLabels,
                           const std::string& engine) {
  Checkpoint c = loadCheckpoint(ckptPath);
  FrontendOptions fo;
  fo.includePaths = includePaths;
  fo.overrides = c.overrides;
  Graph fwd = buildModel(c.modelPath, fo);
  if (fwd.sourceHash != c.sourceHash)
    throw DataError(ckptPath + ": the model source " + c.modelPath +
                    " changed since this checkpoint was written; retrain, or restore the model file");
  Vocabularies vocabs = c.vocabs;
  Dataset d = encode(readCsv(dataPath, threadCount()), fwd.inputs, vocabs, /*grow=*/false, needLabels, threadCount());
  warnTruncated(d);
  bindVocabularies(fwd, vocabSizes(vocabs));
  if (fwd.params.size() != c.params.size())
    throw DataError(ckptPath + ": holds " + std::to_string(c.params.size()) + " parameters, model has " +
                    std::to_string(fwd.params.size()));
  ParamState st;
  for (size_t p = 0; p < fwd.params.size(); ++p) {
    if (fwd.params[p].name != c.paramNames[p] ||
        static_cast<int64_t>(c.params[p].size()) != numElements(fwd.params[p].shape, 0))
      throw DataError(ckptPath + ": parameter " + c.paramNames[p] + " does not match the model's " +
                      fwd.params[p].name + " " + shapeStr(fwd.params[p].shape));
  }
  setCheckpointParams(fwd, c, st);
  const int64_t batch = 4096;
  Graph inf = buildInference(fwd, batch, batchesServed(d.rows, batch));
  std::vector<ValueId> fetch = outputValues(inf);
  // The parameters are loaded already; the arena is not allocated yet.
  checkModelFitsMemory(fwd, 0, {planArena("inference", inf, fetch, batch)});
  auto eng = makeEngine(engine, inf, fetch, batch);
  auto outs = predictAll(*eng, inf, d, st, batch, nullptr);
  if (!predictionsOut.empty()) {
    std::string tmp = predictionsOut + ".tmp";
    {
      std::ofstream f(tmp);
      for (size_t k = 0; k < inf.outputs.size(); ++k) f << (k ? "," : "") << inf.outputs[k].name;
      f << "\n";
      char num[32];
      for (int64_t r = 0; r < d.rows; ++r) {
        for (size_t k = 0; k < outs.size(); ++k) {
          int64_t w = static_cast<int64_t>(outs[k].size()) / std::max<int64_t>(d.rows, 1);
          for (int64_t j = 0; j < w; ++j) {
            std::snprintf(num, sizeof num, "%.9g", static_cast<double>(outs[k][static_cast<size_t>(r * w + j)]));
            f << (k || j ? (j ? "|" : ",") : "") << num;
          }
        }
        f << "\n";
      }
      if (!f) throw DataError(predictionsOut + ": cannot write predictions");
    }
    std::filesystem::rename(tmp, predictionsOut);
  }
  if (!needLabels) return {};
  return metricsFor(inf, d, outs[metricOutput(inf)]);
}

}  // namespace recc
