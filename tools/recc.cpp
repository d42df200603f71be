// recc: the command-line driver (check, compile, train, eval, predict).
//
// Exit codes: 0 ok, 1 model error (parse/name/shape: file:line:col), 2 usage error,
// 3 data or checkpoint error, 4 training diverged (NaN/inf loss), 70 internal error.
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <fstream>
#include <future>
#include <iostream>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "compiler/codegen/Compiler.h"
#include "compiler/frontend/Frontend.h"
#include "compiler/ir/Printer.h"
#include "compiler/passes/Autodiff.h"
#include "compiler/passes/Hoisting.h"
#include "runtime/kernels/Kernels.h"
#include "runtime/kernels/Parallel.h"
#include "tools/driver/Engine.h"
#include "tools/driver/MemoryLimit.h"
#include "tools/driver/Trainer.h"

using namespace recc;

namespace {

const char* kUsage =
    "usage:\n"
    "  recc check   MODEL.rec [--data TRAIN.csv] [--set k=v]... [-I DIR]...\n"
    "  recc compile MODEL.rec [--emit=graph|grad|infer|plan|llvm] [--data TRAIN.csv] [--batch N] [--set k=v]...\n"
    "  recc train   MODEL.rec --train TRAIN.csv --test TEST.csv [--epochs N] [--batch N] [--lr X]\n"
    "               [--optimizer sgd|adam|adamw] [--weight-decay X] [--seed N] [--set k=v]...\n"
    "               [--out CKPT] [--resume CKPT] [--metrics-json FILE] [--engine jit|reference] [--rank-eval] [--quiet]\n"
    "  recc eval    CKPT --data DATA.csv [--metrics-json FILE]\n"
    "  recc predict CKPT --data DATA.csv --out PREDS.csv\n"
    "  compile, train, eval and predict take --threads N (default: every core; results are bitwise\n"
    "  reproducible for a given N)\n";

struct UsageError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

/// Parsed command line: one positional argument, flags with values, repeated --set / -I.
struct Args {
  std::string command, positional;
  std::map<std::string, std::string> flags;
  std::vector<std::pair<std::string, std::string>> sets;
  std::vector<std::string> includes;
  bool has(const std::string& k) const { return flags.count(k) != 0; }
  std::string get(const std::string& k, const std::string& def = "") const {
    auto it = flags.find(k);
    return it == flags.end() ? def : it->second;
  }
  std::string need(const std::string& k) const {
    if (!has(k)) throw UsageError("recc " + command + ": missing --" + k);
    return get(k);
  }
};

Args parseArgs(int argc, char** argv) {
  static const std::map<std::string, std::set<std::string>> allowed = {
      {"check", {"data"}},
      {"compile", {"emit", "data", "batch", "threads"}},
      {"train", {"train", "test", "epochs", "batch", "lr", "optimizer", "weight-decay", "seed", "out",
                 "metrics-json", "engine", "quiet", "eval-batch", "resume", "rank-eval", "threads"}},
      {"eval", {"data", "metrics-json", "engine", "threads"}},
      {"predict", {"data", "out", "engine", "threads"}},
  };
  static const std::set<std::string> booleans = {"quiet", "rank-eval"};
  if (argc < 2) throw UsageError("missing command");
  Args a;
  a.command = argv[1];
  auto allow = allowed.find(a.command);
  if (allow == allowed.end()) throw UsageError("unknown command '" + a.command + "'");
  for (int i = 2; i < argc; ++i) {
    std::string s = argv[i];
    if (s == "-I") {
      if (i + 1 >= argc) throw UsageError("-I needs a directory");
      a.includes.push_back(argv[++i]);
      continue;
    }
    if (s.rfind("--", 0) != 0) {
      if (!a.positional.empty()) throw UsageError("unexpected argument '" + s + "'");
      a.positional = s;
      continue;
    }
    std::string key = s.substr(2), value;
    auto eq = key.find('=');
    bool inlineValue = eq != std::string::npos;
    if (inlineValue) {
      value = key.substr(eq + 1);
      key = key.substr(0, eq);
    }
    if (key != "set" && !allow->second.count(key))
      throw UsageError("recc " + a.command + ": unknown flag --" + key);
    if (booleans.count(key)) {
      a.flags[key] = "1";
      continue;
    }
    if (!inlineValue) {
      if (i + 1 >= argc) throw UsageError("--" + key + " needs a value");
      value = argv[++i];
    }
    if (key == "set") {
      auto e = value.find('=');
      if (e == std::string::npos || e == 0) throw UsageError("--set expects name=value, got '" + value + "'");
      a.sets.emplace_back(value.substr(0, e), value.substr(e + 1));
    } else {
      a.flags[key] = value;
    }
  }
  if (a.positional.empty()) throw UsageError("recc " + a.command + ": missing the model or checkpoint file");
  return a;
}

Graph loadModel(const Args& a) {
  FrontendOptions fo;
  fo.includePaths = a.includes;
  fo.overrides = a.sets;
  return buildModel(a.positional, fo);
}

/// Binds vocabulary sizes from --data (the training CSV) or, without it, to a placeholder.
void bindFromData(const Args& a, Graph& g) {
  Vocabularies vocabs;
  if (a.has("data")) {
    // Only the vocabulary sizes are needed: the id columns.
    std::vector<InputDecl> ids;
    for (const InputDecl& in : g.inputs)
      if (in.kind == InputKind::Id || in.kind == InputKind::Ids) ids.push_back(in);
    encode(readCsv(a.get("data"), threadCount()), ids, vocabs, /*grow=*/true, /*needLabels=*/false, threadCount());
    bindVocabularies(g, vocabSizes(vocabs));
    return;
  }
  std::map<std::string, int64_t> sizes;
  for (const InputDecl& in : g.inputs)
    if (!in.vocab.empty()) sizes[in.vocab] = 1000;
  std::fprintf(stderr, "recc: note: vocabulary sizes assumed 1000 (pass --data TRAIN.csv for real ones)\n");
  bindVocabularies(g, sizes);
}

int cmdCheck(const Args& a) {
  Graph g = loadModel(a);
  if (a.has("data")) bindFromData(a, g);
  std::printf("model %s\n", g.model.c_str());
  for (const InputDecl& in : g.inputs) {
    int k = g.inputIndex(in.name);
    for (const Node& n : g.nodes)
      if (n.op == OpKind::Input && n.attrs.i("index") == k) {
        std::printf("  input  %-14s %s%s  (column %s)\n", in.name.c_str(), dtypeName(n.dtype), shapeStr(n.shape).c_str(),
                    in.column.c_str());
        break;
      }
  }
  for (const NamedValue& v : g.named)
    std::printf("  %-20s %s%s\n", v.name.c_str(), dtypeName(g.at(v.value).dtype), shapeStr(g.at(v.value).shape).c_str());
  for (const NamedValue& v : g.outputs)
    std::printf("  output %-13s %s%s\n", v.name.c_str(), dtypeName(g.at(v.value).dtype), shapeStr(g.at(v.value).shape).c_str());
  // Parameter count: static part plus, per vocabulary symbol, a per-entry count.
  int64_t fixed = 0;
  std::map<std::string, int64_t> perVocab;
  for (const ParamDecl& p : g.params) {
    int64_t n = 1;
    std::string sym;
    for (const Dim& d : p.shape) {
      if (d.isStatic()) n *= d.n;
      else sym = d.sym;
    }
    std::printf("  param  %-24s f32%s\n", p.name.c_str(), shapeStr(p.shape).c_str());
    if (sym.empty()) fixed += n;
    else perVocab[sym] += n;
  }
  std::printf("parameters: %lld", static_cast<long long>(fixed));
  for (auto& [sym, n] : perVocab) std::printf(" + %lld*%s", static_cast<long long>(n), sym.c_str());
  std::printf("\n");
  return 0;
}

int cmdCompile(const Args& a) {
  std::string emit = a.get("emit", "");
  auto t0 = std::chrono::steady_clock::now();
  Graph g = loadModel(a);
  if (emit == "graph") {
    std::fputs(printGraph(g).c_str(), stdout);
    return 0;
  }
  bindFromData(a, g);
  int64_t maxBatch = 1024;
  if (a.has("batch")) {
    const std::string v = a.get("batch");
    char* end = nullptr;
    long long n = std::strtoll(v.c_str(), &end, 10);
    if (v.empty() || *end != '\0' || n < 1) throw UsageError("--batch: '" + v + "' is not a positive batch size");
    maxBatch = n;
  }
  const CodegenOptions co = engineOptions(maxBatch);  // as `recc train` compiles
  // The rewrites weigh their costs at the batch the graphs will run at: --batch for both, else
  // the defaults of `recc train` (1024 for the step, 4096 for inference).
  Graph step = a.has("batch") ? buildTrainStep(g, co.maxBatch) : buildTrainStep(g);
  Graph inf = a.has("batch") ? buildInference(g, co.maxBatch) : buildInference(g);
  if (emit == "grad") {
    std::fputs(printGraph(step).c_str(), stdout);
    return 0;
  }
  // As the JIT runs them: parameter-only values once per parameter version (for the step: once
  // per step, before it), the rest per batch.
  std::vector<ValueId> stepFetches = {step.loss}, outs = outputValues(inf);
  Graph stepPrep = hoistParameterOnly(step, stepFetches);
  Graph prep = hoistParameterOnly(inf, outs);
  if (emit == "infer") {
    std::fputs(printGraph(inf).c_str(), stdout);
    if (!prep.outputs.empty())
      std::printf("; ---- once per parameter version: the derived parameters ----\n%s", printGraph(prep).c_str());
    return 0;
  }
  // The arenas are allocated by the first run: refuse a model that could not run.
  checkModelFitsMemory(g, 0, {planArena("training step", step, stepFetches, co.maxBatch),
                              planArena("inference", inf, outs, co.maxBatch)});
  auto compilePrep = [](const Graph& p) {
    return p.outputs.empty() ? nullptr : CompiledGraph::compile(p, outputValues(p), engineOptions(1));
  };
  // As `recc train` does: the inference graphs on another thread while the step compiles.
  std::unique_ptr<CompiledGraph> cp;
  auto inferenceCompile = std::async(std::launch::async, [&] {
    cp = compilePrep(prep);
    return CompiledGraph::compile(inf, outs, co);
  });
  auto csp = compilePrep(stepPrep);
  auto cs = CompiledGraph::compile(step, stepFetches, co);
  auto ci = inferenceCompile.get();
  double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  if (emit == "llvm") {
    std::printf("; ---- training step ----\n%s\n; ---- inference ----\n%s", cs->llvmIR().c_str(), ci->llvmIR().c_str());
    if (csp) std::printf("\n; ---- training step: derived parameters ----\n%s", csp->llvmIR().c_str());
    if (cp) std::printf("\n; ---- inference: derived parameters ----\n%s", cp->llvmIR().c_str());
  } else if (emit == "plan") {
    std::printf("training step arena: %lld bytes\ninference arena: %lld bytes\n",
                static_cast<long long>(cs->plan().arenaBytes), static_cast<long long>(ci->plan().arenaBytes));
    if (csp)
      std::printf("training step derived parameters arena: %lld bytes\n", static_cast<long long>(csp->plan().arenaBytes));
    if (cp) std::printf("derived parameters arena: %lld bytes\n", static_cast<long long>(cp->plan().arenaBytes));
  } else if (!emit.empty()) {
    throw UsageError("--emit: '" + emit + "' is not one of graph, grad, infer, plan, llvm");
  }
  const bool cached = cs->fromCache() && ci->fromCache() && (!cp || cp->fromCache()) && (!csp || csp->fromCache());
  std::fprintf(stderr, "recc: compiled %s (training step + inference) in %.3f s%s\n", g.model.c_str(), secs,
               cached ? " (object code from the cache)" : "");
  return 0;
}

int cmdTrain(const Args& a) {
  TrainOptions o;
  o.modelPath = a.positional;
  o.trainPath = a.need("train");
  o.testPath = a.need("test");
  o.outPath = a.get("out");
  o.resumePath = a.get("resume");
  o.metricsJsonPath = a.get("metrics-json");
  o.includePaths = a.includes;
  o.overrides = a.sets;
  o.engine = a.get("engine", "jit");
  if (o.engine != "jit" && o.engine != "reference") throw UsageError("--engine must be jit or reference");
  o.quiet = a.has("quiet");
  o.rankEval = a.has("rank-eval");
  for (const char* k : {"epochs", "batch", "lr", "optimizer", "seed"})
    if (a.has(k)) o.flags[k] = a.get(k);
  if (a.has("weight-decay")) o.flags["weight_decay"] = a.get("weight-decay");
  if (a.has("eval-batch")) o.flags["eval_batch"] = a.get("eval-batch");
  TrainResult r = train(o);
  std::printf("test  auc %.4f  logloss %.4f  accuracy %.4f  precision %.4f  recall %.4f  (%lld rows)\n",
              r.test.auc, r.test.logloss, r.test.accuracy, r.test.precision, r.test.recall,
              static_cast<long long>(r.test.count));
  if (o.rankEval) std::printf("test  HR@10 %.4f  NDCG@10 %.4f (target vs 99 unrated items)\n", r.hr10, r.ndcg10);
  std::printf("train %.0f samples/s (step only)  infer %.0f samples/s  compile %.2f s\n", r.trainSamplesPerSec,
              r.inferSamplesPerSec, r.compileSeconds);
  return 0;
}

int cmdEval(const Args& a, bool predict) {
  std::string out = predict ? a.need("out") : "";
  Metrics m = evaluateCheckpoint(a.positional, a.need("data"), a.includes, out, !predict, a.get("engine", "jit"));
  if (predict) {
    std::printf("wrote %s\n", out.c_str());
    return 0;
  }
  std::printf("auc %.4f  logloss %.4f  accuracy %.4f  precision %.4f  recall %.4f  (%lld rows)\n", m.auc,
              m.logloss, m.accuracy, m.precision, m.recall, static_cast<long long>(m.count));
  if (a.has("metrics-json")) {
    std::ofstream js(a.get("metrics-json"));
    js << metricsJson(m) << "\n";
  }
  return 0;
}

/// --threads N: how many threads kernels and compiled loops use (1..256).
void setThreads(const Args& a) {
  if (!a.has("threads")) return;
  const std::string v = a.get("threads");
  char* end = nullptr;
  long n = std::strtol(v.c_str(), &end, 10);
  if (v.empty() || *end != '\0' || n < 1 || n > 256)
    throw UsageError("--threads: '" + v + "' is not a thread count (1 to 256)");
  recc_set_threads(static_cast<int>(n));
}

}  // namespace

int main(int argc, char** argv) {
  try {
    Args a = parseArgs(argc, argv);
    setThreads(a);
    if (a.command == "check") return cmdCheck(a);
    if (a.command == "compile") return cmdCompile(a);
    if (a.command == "train") return cmdTrain(a);
    if (a.command == "eval") return cmdEval(a, false);
    return cmdEval(a, true);
  } catch (const UsageError& e) {
    std::fprintf(stderr, "recc: error: %s\n%s", e.what(), kUsage);
    return 2;
  } catch (const std::invalid_argument& e) {
    std::fprintf(stderr, "recc: error: %s\n", e.what());
    return 2;
  } catch (const DiagError& e) {
    std::fputs(renderDiag(e).c_str(), stderr);
    return 1;
  } catch (const DataError& e) {
    std::fprintf(stderr, "recc: error: %s\n", e.what());
    return 3;
  } catch (const DivergedError& e) {
    std::fprintf(stderr, "recc: error: %s\n", e.what());
    return 4;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "recc: internal error: %s\n(please report this with the model file)\n", e.what());
    return 70;
  }
}
