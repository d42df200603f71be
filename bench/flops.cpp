// The matmul FLOP rate of a JIT-compiled training step, against the rate Eigen's GEMM reaches on
// the same shapes (the performance target: >= 60%). Built by the "bench" section of
// CMakeLists.txt (target recc_bench_flops, not part of `all`); bench/run runs it last.
//
//   recc_bench_flops [--model zoo/deepfm.rec] [--set k=v]... [--data data/ctr_train.csv]
//                    [--batch 1024] [--steps 200] [--threads 2] [--seed 42]
//
// Without --set the model gets dim=128 (the book's DeepFM). The training step is built as
// `recc train` builds it (vocabulary sizes from --data, initParams, AdamW with lr 1e-3) and
// timed on real batches of --data, gathered beforehand: the step only (forward, backward,
// optimizer update), as recc's train_samples_per_sec counts it.
//
// FLOPs: 2*M*N*K for every MatMul and BatchMatMul node of the training-step graph at the batch
// size; nothing else is counted, so "achieved" is the matmul work over the whole step's time.
// The baselines call recc_rt_matmul_f32 / recc_rt_batch_matmul_f32 on exactly those (m, n, k,
// transpose) shapes, in the step's order, each with its own buffers, with the same thread count:
// once with Eigen's product (the target's reference: recc::setGemmEnabled(false)) and once with
// the runtime's own tiled kernel (runtime/kernels/Gemm.h), the one the step runs. Step and GEMM
// runs alternate in rounds, so that a change in the (shared) machine's load hits all three.
//
// achieved / GEMM rate = GEMM time / step time: the share of the step the same matmuls take when
// run alone. Against Eigen it can pass 100% (the step's kernel is faster than Eigen's); against
// recc's kernel, what is missing to 100% is everything else (gathers, fused elementwise loops,
// the optimizer, the loss) plus any slowdown the GEMMs see inside the step (cold caches).
//
// Two columns: "executed" counts the GEMMs of the step recc runs, after its algebraic rewrites
// (compiler/passes/Algebra.h: factored concats, products per table row); "as written" counts
// those of the model as written, differentiated without rewrites: the matmuls an eager framework
// runs (model FLOPs, as MFU counts them). The rewrites remove matmul work, which lowers the
// executed rate while the step gets faster; the as-written rate credits the step with the work
// the model defines, against Eigen on the as-written shapes.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <memory>
#include <random>
#include <string>
#include <tuple>
#include <vector>

#include "compiler/codegen/Compiler.h"
#include "compiler/frontend/Frontend.h"
#include "compiler/passes/Autodiff.h"
#include "runtime/data/Dataset.h"
#include "runtime/kernels/Gemm.h"
#include "runtime/kernels/Kernels.h"
#include "runtime/reference/Evaluator.h"

using namespace recc;

namespace {

using Clock = std::chrono::steady_clock;
double since(Clock::time_point t) { return std::chrono::duration<double>(Clock::now() - t).count(); }

/// One GEMM of the step as the JIT calls it (compiler/codegen/Emitter.cpp emitMatMul /
/// emitBatchMatMul): `count` products of op(a)[m,k] x op(b)[k,n]; a stride of 0 shares an
/// operand across the products.
struct Gemm {
  bool batched = false;
  int64_t count = 1, m = 0, n = 0, k = 0, strideA = 0, strideB = 0;
  int32_t ta = 0, tb = 0;
  double flops() const { return 2.0 * static_cast<double>(count) * static_cast<double>(m * n * k); }
};

/// Elements of s[from, to) with B = batch (vocabulary dims are bound by then).
int64_t elements(const Shape& s, size_t from, size_t to, int64_t batch) {
  return numElements(Shape(s.begin() + static_cast<std::ptrdiff_t>(from), s.begin() + static_cast<std::ptrdiff_t>(to)),
                     batch);
}

/// The GEMMs of a graph at a batch size, with the shapes the emitter derives from the nodes.
std::vector<Gemm> gemmsOf(const Graph& g, int64_t batch) {
  std::vector<Gemm> out;
  for (const Node& node : g.nodes) {
    if (node.op != OpKind::MatMul && node.op != OpKind::BatchMatMul) continue;
    const Shape& a = g.at(node.inputs[0]).shape;
    const Shape& b = g.at(node.inputs[1]).shape;
    Gemm x;
    x.ta = node.attrs.i("ta") != 0;
    x.tb = node.attrs.i("tb") != 0;
    if (node.op == OpKind::MatMul) {  // leading dims flatten into rows (ta=0) or the contraction (ta=1)
      int64_t lead = elements(a, 0, a.size() - 1, batch);
      int64_t last = numElements({a.back()}, batch);
      x.m = x.ta ? last : lead;
      x.k = x.ta ? lead : last;
      x.n = x.tb ? elements(b, 0, b.size() - 1, batch) : numElements({b.back()}, batch);
    } else {
      size_t ra = a.size(), rb = b.size();
      x.batched = true;
      x.m = numElements({a[ra - (x.ta ? 1 : 2)]}, batch);
      x.k = numElements({a[ra - (x.ta ? 2 : 1)]}, batch);
      x.n = numElements({b[rb - (x.tb ? 2 : 1)]}, batch);
      x.count = elements(node.shape, 0, node.shape.size() - 2, batch);
      x.strideA = ra > 2 ? x.m * x.k : 0;
      x.strideB = rb > 2 ? x.k * x.n : 0;
    }
    out.push_back(x);
  }
  return out;
}

/// A GEMM with its own operands (random, so no denormals or zero shortcuts) and result.
struct GemmRun {
  Gemm g;
  std::vector<float> a, b, c;
  GemmRun(const Gemm& x, std::mt19937& rng) : g(x) {
    std::uniform_real_distribution<float> u(-1, 1);
    a.resize(static_cast<size_t>((x.strideA ? x.count : 1) * x.m * x.k));
    b.resize(static_cast<size_t>((x.strideB ? x.count : 1) * x.k * x.n));
    c.resize(static_cast<size_t>(x.count * x.m * x.n));
    for (float& f : a) f = u(rng);
    for (float& f : b) f = u(rng);
  }
  void run() {
    if (g.batched)
      recc_rt_batch_matmul_f32(c.data(), a.data(), b.data(), g.count, g.m, g.n, g.k, g.ta, g.tb, g.strideA, g.strideB);
    else
      recc_rt_matmul_f32(c.data(), a.data(), b.data(), g.m, g.n, g.k, g.ta, g.tb);
  }
};

[[noreturn]] void usage(const std::string& why) {
  std::fprintf(stderr,
               "recc_bench_flops: %s\nusage: recc_bench_flops [--model FILE.rec] [--set k=v]... [--data TRAIN.csv]\n"
               "                        [--batch N] [--steps N] [--threads N] [--seed N]\n",
               why.c_str());
  std::exit(2);
}

int run(int argc, char** argv) {
  std::string model = RECC_SOURCE_DIR "/zoo/deepfm.rec", data = RECC_SOURCE_DIR "/data/ctr_train.csv";
  std::vector<std::pair<std::string, std::string>> sets;
  int64_t batch = 1024, steps = 200, threads = 2, seed = 42;
  for (int i = 1; i < argc; ++i) {
    std::string f = argv[i];
    if (i + 1 >= argc) usage(f + " needs a value");
    std::string v = argv[++i];
    if (f == "--model") model = v;
    else if (f == "--data") data = v;
    else if (f == "--set") {
      auto eq = v.find('=');
      if (eq == std::string::npos || eq == 0) usage("--set expects name=value");
      sets.emplace_back(v.substr(0, eq), v.substr(eq + 1));
    } else {
      int64_t* target = f == "--batch" ? &batch : f == "--steps" ? &steps : f == "--threads" ? &threads
                      : f == "--seed"  ? &seed : nullptr;
      if (!target) usage("unknown flag " + f);
      *target = std::atoll(v.c_str());
      if (*target < 1) usage(f + " must be a positive integer");
    }
  }
  if (sets.empty()) sets.emplace_back("dim", "128");  // the book's DeepFM
  recc_set_threads(static_cast<int>(threads));

  // ---- the training step, as `recc train` builds it ----
  FrontendOptions fo;
  fo.overrides = sets;
  Graph fwd = buildModel(model, fo);
  Vocabularies vocabs;
  Dataset d = encode(readCsv(data), fwd.inputs, vocabs, /*grow=*/true, /*needLabels=*/true);
  if (d.rows < batch) usage(data + " has fewer rows than one batch");
  bindVocabularies(fwd, vocabSizes(vocabs));
  Graph step = buildTrainStep(fwd);
  CodegenOptions co;
  co.maxBatch = batch;
  co.shards = static_cast<int>(threads);  // as `recc train` runs it
  auto t0 = Clock::now();
  auto compiled = CompiledGraph::compile(step, {step.loss}, co);
  double compileSeconds = since(t0);

  ParamState st = initParams(fwd, static_cast<uint64_t>(seed));
  st.opt = ReccOptimizer{2, 1e-3f, 0.9f, 0.999f, 1e-8f, 0.0f, 0};  // AdamW, the zoo's settings
  // Real batches (full ones only, at most 32), cycled through, so that the sparse updates
  // touch different rows from step to step as in training.
  std::vector<int64_t> order = shuffledOrder(d.rows, static_cast<uint64_t>(seed));
  std::vector<BatchBuffers> batches(static_cast<size_t>(std::min<int64_t>(32, d.rows / batch)));
  for (size_t i = 0; i < batches.size(); ++i) fillBatch(d, order, static_cast<int64_t>(i) * batch, batch, batches[i]);
  RunArgs args;
  args.batch = batch;
  for (size_t p = 0; p < st.values.size(); ++p) {
    args.params.push_back(st.values[p].data());
    args.m.push_back(momentData(fwd, st, p, 1));
    args.v.push_back(momentData(fwd, st, p, 2));
  }
  args.opt = &st.opt;
  float loss = 0;
  args.fetches = {&loss};
  size_t next = 0;
  auto oneStep = [&] {
    args.inputs = batches[next].pointers();
    next = (next + 1) % batches.size();
    st.opt.step++;
    compiled->run(args);
  };

  // ---- the same GEMMs alone: those executed, and those of the model as written ----
  Graph written = fwd;
  differentiate(written);
  std::mt19937 rng(static_cast<unsigned>(seed));
  struct GemmSet {
    std::vector<GemmRun> runs;
    double flops = 0, eigenSeconds = 0, reccSeconds = 0;
    void run() {
      for (GemmRun& r : runs) r.run();
    }
  };
  auto gemmSet = [&](const Graph& g) {
    GemmSet set;
    for (const Gemm& x : gemmsOf(g, batch)) {
      set.runs.emplace_back(x, rng);
      set.flops += x.flops();
    }
    return set;
  };
  GemmSet executed = gemmSet(step), asWritten = gemmSet(written);

  // Warm up all (first-touch page faults, thread start, caches), then alternate in rounds.
  for (int i = 0; i < 5; ++i) oneStep(), executed.run(), asWritten.run();
  const int64_t rounds = std::max<int64_t>(1, std::min<int64_t>(10, steps));
  const int64_t perRound = std::max<int64_t>(1, steps / rounds);
  double stepSeconds = 0;
  for (int64_t r = 0; r < rounds; ++r) {
    t0 = Clock::now();
    for (int64_t i = 0; i < perRound; ++i) oneStep();
    stepSeconds += since(t0);
    for (GemmSet* set : {&executed, &asWritten})
      for (bool tiled : {false, true}) {
        const bool was = recc::setGemmEnabled(tiled);
        t0 = Clock::now();
        for (int64_t i = 0; i < perRound; ++i) set->run();
        (tiled ? set->reccSeconds : set->eigenSeconds) += since(t0);
        recc::setGemmEnabled(was);
      }
  }
  const double n = static_cast<double>(rounds * perRound);
  stepSeconds /= n;
  for (GemmSet* set : {&executed, &asWritten}) {
    set->eigenSeconds /= n;
    set->reccSeconds /= n;
  }

  // Per distinct shape: how often it occurs and its rate alone (for where the time goes).
  // Seconds per call of r with Eigen's product (tiled = false) or the runtime's kernel.
  auto secondsPerCall = [&](GemmRun& r, bool tiled, int reps) {
    const bool was = recc::setGemmEnabled(tiled);
    r.run();
    t0 = Clock::now();
    for (int i = 0; i < reps; ++i) r.run();
    const double s = since(t0) / reps;
    recc::setGemmEnabled(was);
    return s;
  };
  struct ShapeTimes {
    int calls = 0;
    double eigen = 0, recc = 0;
  };
  std::map<std::tuple<bool, int64_t, int64_t, int64_t, int64_t, int32_t, int32_t>, ShapeTimes> shapes;
  for (GemmRun& r : executed.runs) {
    const Gemm& x = r.g;
    ShapeTimes& t = shapes[std::make_tuple(x.batched, x.count, x.m, x.n, x.k, x.ta, x.tb)];
    if (t.calls++ > 0) continue;
    const int reps = static_cast<int>(std::clamp(2e8 / std::max(x.flops(), 1.0), 3.0, 200.0));
    t.eigen = secondsPerCall(r, false, reps);
    t.recc = secondsPerCall(r, true, reps);
  }
  // A large square product, for scale: what the kernels reach without small shapes.
  Gemm big;
  big.m = big.n = big.k = 1024;
  GemmRun square(big, rng);
  const double squareEigen = big.flops() / secondsPerCall(square, false, 5) / 1e9;
  const double squareRecc = big.flops() / secondsPerCall(square, true, 5) / 1e9;

  std::printf("recc_bench_flops: %s", fwd.model.c_str());
  for (auto& [k, v] : sets) std::printf(" %s=%s", k.c_str(), v.c_str());
  std::printf(", batch %lld, %lld threads, %lld params, %zu GEMM calls per step (%zu as written), compiled in %.2f s\n",
              static_cast<long long>(batch), static_cast<long long>(threads), static_cast<long long>(fwd.paramCount()),
              executed.runs.size(), asWritten.runs.size(), compileSeconds);
  std::printf("\nexecuted GEMMs, each alone:");
  std::printf("\n%-6s %6s %6s %6s %6s %2s %2s %6s %10s %10s %10s\n", "kind", "count", "m", "n", "k", "ta", "tb",
              "calls", "MFLOP", "Eigen GF/s", "recc GF/s");
  for (auto& [key, t] : shapes) {
    auto [batched, count, m, nn, k, ta, tb] = key;
    Gemm x;
    x.count = count;
    x.m = m;
    x.n = nn;
    x.k = k;
    std::printf("%-6s %6lld %6lld %6lld %6lld %2d %2d %6d %10.1f %10.1f %10.1f\n", batched ? "batch" : "matmul",
                static_cast<long long>(count), static_cast<long long>(m), static_cast<long long>(nn),
                static_cast<long long>(k), ta, tb, t.calls, x.flops() / 1e6, x.flops() / t.eigen / 1e9,
                x.flops() / t.recc / 1e9);
  }
  std::printf("\n%-38s %12s %12s\n", "", "executed", "as written");
  std::printf("%-38s %12.3f %12.3f\n", "matmul GFLOP per step", executed.flops / 1e9, asWritten.flops / 1e9);
  std::printf("%-38s %12.3f %12s\n", "training step (mean), ms", stepSeconds * 1e3, "");
  auto row = [&](const char* what, double executedValue, double writtenValue) {  // ms to 3 places, rates to 1
    const bool ms = std::string(what).find("ms") != std::string::npos;
    std::printf(ms ? "%-38s %12.3f %12.3f\n" : "%-38s %12.1f %12.1f\n", what, executedValue, writtenValue);
  };
  row("the same GEMMs alone, Eigen, ms", executed.eigenSeconds * 1e3, asWritten.eigenSeconds * 1e3);
  row("the same GEMMs alone, recc kernel, ms", executed.reccSeconds * 1e3, asWritten.reccSeconds * 1e3);
  row("achieved (step), GFLOP/s", executed.flops / stepSeconds / 1e9, asWritten.flops / stepSeconds / 1e9);
  row("Eigen GEMM on those shapes, GFLOP/s", executed.flops / executed.eigenSeconds / 1e9,
      asWritten.flops / asWritten.eigenSeconds / 1e9);
  row("recc GEMM on those shapes, GFLOP/s", executed.flops / executed.reccSeconds / 1e9,
      asWritten.flops / asWritten.reccSeconds / 1e9);
  // achieved / GEMM = GEMM time / step time: also the share of the step the GEMMs would take.
  std::printf("%-38s %11.1f%% %11.1f%%  (target >= 60%%)\n", "achieved / Eigen GEMM",
              100.0 * executed.eigenSeconds / stepSeconds, 100.0 * asWritten.eigenSeconds / stepSeconds);
  std::printf("%-38s %11.1f%% %11.1f%%\n", "achieved / recc GEMM", 100.0 * executed.reccSeconds / stepSeconds,
              100.0 * asWritten.reccSeconds / stepSeconds);
  std::printf("%-38s %12.3f\n", "non-GEMM work per step, ms", (stepSeconds - executed.reccSeconds) * 1e3);
  std::printf("%-38s %12.1f %12.1f  (Eigen, recc kernel; for scale)\n", "GEMM 1024x1024x1024, GFLOP/s", squareEigen,
              squareRecc);
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  try {
    return run(argc, argv);
  } catch (const DiagError& e) {
    std::fputs(renderDiag(e).c_str(), stderr);
    return 1;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "recc_bench_flops: error: %s\n", e.what());
    return 1;
  }
}
