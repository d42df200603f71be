// CompiledGraph::compile(): fusion, buffer planning, LLVM emission, optimisation and JIT.
#include "compiler/codegen/Compiler.h"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <future>
#include <map>
#include <thread>

#include <llvm/IR/PassTimingInfo.h>
#include <llvm/Pass.h>
#include <llvm/Support/raw_ostream.h>

#include "compiler/codegen/BufferPlan.h"
#include "compiler/codegen/Emitter.h"
#include "compiler/codegen/Fusion.h"
#include "compiler/codegen/Jit.h"
#include "compiler/codegen/Lowering.h"
#include "compiler/codegen/Sharding.h"
#include "runtime/kernels/Memory.h"
#include "runtime/kernels/Parallel.h"
#include "runtime/kernels/Shards.h"

namespace recc {

namespace {

using EntryFn = void (*)(int64_t, void**, uint8_t*);

DiagError jitError(llvm::Error err) {
  return DiagError({}, "codegen: JIT failure: " + llvm::toString(std::move(err)));
}

// Everything codegen relies on that a verified graph does not already promise.
void checkLowerable(const Graph& g, const std::vector<ValueId>& fetches) {
  for (const Node& n : g.nodes) {
    if (loweringOf(n.op) == Lowering::None)
      throw DiagError(n.loc, std::string("codegen: no lowering for ") + opName(n.op));
    for (const Dim& d : n.shape)
      if (!d.isStatic() && !d.isBatch())
        throw DiagError(n.loc, std::string("codegen: ") + opName(n.op) + " has unbound dimension " +
                                   d.str() + " (bind vocabularies before compiling)");
  }
  for (ValueId v : fetches) {
    if (v < 0 || static_cast<size_t>(v) >= g.nodes.size())
      throw DiagError({}, "codegen: fetch of unknown value %" + std::to_string(v));
    if (opInfo(g.at(v).op).cls == OpClass::Update)
      throw DiagError(g.at(v).loc, "codegen: an update has no value to fetch");
  }
}

double secondsSince(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

class JitCompiledGraph final : public CompiledGraph {
 public:
  /// `instances`: how many runs may be in flight at once (runOn), each with its own arena.
  JitCompiledGraph(const Graph& g, std::vector<ValueId> fetches, const CodegenOptions& opts, int instances = 1)
      : g_(g), fetches_(std::move(fetches)), layout_(SlotLayout::of(g, fetches_.size())),
        maxBatch_(opts.maxBatch), optLevel_(opts.optLevel) {
    checkLowerable(g, fetches_);
    if (opts.maxBatch <= 0) throw DiagError({}, "codegen: maxBatch must be positive");
    const bool timing = std::getenv("RECC_COMPILE_TIMING") != nullptr;
    if (std::getenv("RECC_TIME_PASSES")) llvm::TimePassesIsEnabled = true;
    auto t0 = std::chrono::steady_clock::now();
    fusion_ = planFusion(g, fetches_);
    plan_ = planBuffers(g, fusion_, opts.maxBatch);

    auto jit = Jit::create();
    if (!jit) throw jitError(jit.takeError());
    jit_ = std::move(*jit);
    llvm::LLVMContext ctx;
    std::unique_ptr<llvm::Module> module = emitEntry(ctx, g_, fusion_, plan_, fetches_);
    prepareModule(*module, jit_->targetMachine());
    if (std::string problems = Jit::check(*module); !problems.empty())
      throw DiagError({}, "codegen: JIT failure: invalid module: " + problems);
    const double emitted = secondsSince(t0);

    // The object cache is keyed by the module before optimisation: a hit skips the whole
    // LLVM pipeline and code generation.
    DiskObjectCache cache(opts.useCache ? cacheKey(*module, jit_->targetMachine(), opts.optLevel) : "");
    std::vector<std::unique_ptr<llvm::MemoryBuffer>> objects;
    if (opts.useCache) objects = cache.load();
    fromCache_ = !objects.empty();
    if (fromCache_) parts_ = static_cast<int>(objects.size());
    if (objects.empty()) objects = compileParts(*module, cache, opts.optLevel);
    const double compiled = secondsSince(t0);
    for (auto& object : objects)
      if (auto err = jit_->addObject(std::move(object))) throw jitError(std::move(err));
    auto fn = jit_->lookup(kEntryName);
    if (!fn) throw jitError(fn.takeError());
    entry_ = reinterpret_cast<EntryFn>(*fn);
    if (std::getenv("RECC_TIME_PASSES")) llvm::reportAndResetTimings(&llvm::errs());
    if (timing)
      std::fprintf(stderr, "recc: codegen %zu nodes: emit %.3f s, optimise and compile %.3f s (%d part%s), link %.3f s%s\n",
                   g.nodes.size(), emitted, compiled - emitted, parts_, parts_ == 1 ? "" : "s", secondsSince(t0) - compiled,
                   fromCache_ ? " (cached object)" : "");

    // One arena per instance for the graph's lifetime, made by allocate() or else by the
    // instance's first run: `recc compile` never pays for them, and later runs allocate
    // nothing.
    instances_.resize(static_cast<size_t>(instances));
  }

  struct Free {
    void operator()(uint8_t* p) const { std::free(p); }
  };
  struct Instance {
    std::unique_ptr<uint8_t[], Free> arena;
    std::vector<void*> slots;
  };

  void makeInstance(Instance& in) const {
    const size_t bytes = static_cast<size_t>((plan_.arenaBytes + kArenaAlign - 1) / kArenaAlign + 1) *
                         static_cast<size_t>(kArenaAlign);
    // A large arena (DIN's at batch 4096: hundreds of MiB) sits on huge pages: 512 times fewer
    // page faults now, and fewer TLB misses in every run.
    const size_t align = hugePageAlignment(bytes, kArenaAlign);
    in.arena.reset(static_cast<uint8_t*>(std::aligned_alloc(align, (bytes + align - 1) / align * align)));
    if (!in.arena) throw DiagError({}, "codegen: cannot allocate a " + std::to_string(bytes) + "-byte arena");
    adviseHugePages(in.arena.get(), bytes);
    // Fault the pages in at once rather than op by op during the first runs (an evaluation over
    // a test set is only a few runs, and page faults cost more than the work on a virtual
    // machine).
    std::memset(in.arena.get(), 0, bytes);
    in.slots.assign(static_cast<size_t>(layout_.total()), nullptr);
  }

  void run(const RunArgs& a) override { runOn(a, 0); }
  void allocate() override {
    for (Instance& in : instances_)
      if (!in.arena) makeInstance(in);
  }

  /// run() on instance `which`'s arena: runs on different instances may overlap.
  void runOn(const RunArgs& a, int which) {
    Instance& in = instances_[static_cast<size_t>(which)];
    if (!in.arena) makeInstance(in);
    if (a.batch < 0 || a.batch > maxBatch_)
      throw DiagError({}, "run: batch " + std::to_string(a.batch) + " exceeds the compiled maximum " +
                              std::to_string(maxBatch_));
    check(a.inputs.size(), layout_.inputs, "inputs");
    check(a.params.size(), layout_.params, "params");
    check(a.fetches.size(), layout_.fetches, "fetches");
    auto slot = [&](int k) -> void*& { return in.slots[static_cast<size_t>(k)]; };
    for (int i = 0; i < layout_.inputs; ++i) slot(layout_.input(i)) = const_cast<void*>(a.inputs[static_cast<size_t>(i)]);
    for (int p = 0; p < layout_.params; ++p) {
      auto up = static_cast<size_t>(p);
      slot(layout_.param(p)) = a.params[up];
      slot(layout_.m(p)) = up < a.m.size() ? a.m[up] : nullptr;
      slot(layout_.v(p)) = up < a.v.size() ? a.v[up] : nullptr;
    }
    slot(layout_.opt()) = const_cast<ReccOptimizer*>(a.opt);
    slot(layout_.firstRow()) = reinterpret_cast<void*>(static_cast<intptr_t>(a.firstRow));
    slot(layout_.shard()) = const_cast<ReccShard*>(a.shard);
    for (int k = 0; k < layout_.fetches; ++k) slot(layout_.fetch(k)) = a.fetches[static_cast<size_t>(k)];
    entry_(a.batch, in.slots.data(), in.arena.get());
  }

  /// Optimises and compiles the module, in parts on parallel threads when it is large: every
  /// part is the same module emitted in its own context (contexts are single-threaded) with
  /// the bodies of the other parts' functions dropped; the JIT links the parts together.
  std::vector<std::unique_ptr<llvm::MemoryBuffer>> compileParts(llvm::Module& module, DiskObjectCache& cache,
                                                                int optLevel) {
    std::vector<int> owner = partitionFunctions(module, std::min(threadCount(), 4));
    parts_ = owner.empty() ? 1 : *std::max_element(owner.begin(), owner.end()) + 1;
    cache.expect(parts_);
    llvm::ObjectCache* sink = cache.enabled() ? &cache : nullptr;
    std::vector<std::unique_ptr<llvm::MemoryBuffer>> objects(static_cast<size_t>(parts_));
    if (parts_ == 1) {
      module.setModuleIdentifier(DiskObjectCache::partName(0));
      optimizeModule(module, jit_->targetMachine(), optLevel);
      auto obj = Jit::compile(module, jit_->targetMachine(), sink);
      if (!obj) throw jitError(obj.takeError());
      objects[0] = std::move(*obj);
      return objects;
    }
    std::vector<std::string> errors(static_cast<size_t>(parts_));
    auto part = [&](int p) {
      try {
        auto tm = Jit::hostTargetMachine();
        if (!tm) throw jitError(tm.takeError());
        llvm::LLVMContext ctx;
        std::unique_ptr<llvm::Module> m = emitEntry(ctx, g_, fusion_, plan_, fetches_);
        m->setModuleIdentifier(DiskObjectCache::partName(p));
        keepPart(*m, owner, p);
        optimizeModule(*m, **tm, optLevel);
        auto obj = Jit::compile(*m, **tm, sink);
        if (!obj) throw jitError(obj.takeError());
        objects[static_cast<size_t>(p)] = std::move(*obj);
      } catch (const std::exception& e) {
        errors[static_cast<size_t>(p)] = e.what();
      }
    };
    std::vector<std::thread> threads;
    for (int p = 1; p < parts_; ++p) threads.emplace_back(part, p);
    part(0);
    for (std::thread& t : threads) t.join();
    for (const std::string& e : errors)
      if (!e.empty()) throw DiagError({}, e);
    return objects;
  }

  /// Part of every defined function (in module order), or empty for a single part: the entry
  /// and its segments in part 0, every loop (wrapper and body together) in the part with the
  /// least code so far. A module with few loops stays whole.
  static std::vector<int> partitionFunctions(llvm::Module& m, int parts) {
    std::vector<llvm::Function*> loops;
    size_t rest = 0;
    for (llvm::Function& f : m) {
      if (f.isDeclaration() || f.getName().ends_with(".body")) continue;
      if (f.getName().starts_with("loop")) loops.push_back(&f);
      else rest += f.getInstructionCount();
    }
    if (parts < 2 || loops.size() < 24) return {};
    std::map<std::string, int> partOf;
    std::vector<size_t> load(static_cast<size_t>(parts), 0);
    // Straight-line segments cost LLVM less per instruction than loops (which get vectorised
    // and strength-reduced): they weigh 3/4. DIEN's training step then compiles in two parts
    // of 0.42-0.64 s each, as far apart as repeated runs of one part.
    load[0] = rest * 3 / 4;
    for (llvm::Function* f : loops) {
      llvm::Function* body = m.getFunction((f->getName() + ".body").str());
      const size_t size = f->getInstructionCount() + (body ? body->getInstructionCount() : 0);
      const auto p = static_cast<size_t>(std::min_element(load.begin(), load.end()) - load.begin());
      load[p] += size;
      partOf[f->getName().str()] = static_cast<int>(p);
    }
    std::vector<int> owner;
    for (llvm::Function& f : m) {
      if (f.isDeclaration()) {
        owner.push_back(-1);
        continue;
      }
      std::string name = f.getName().str();
      if (llvm::StringRef(name).ends_with(".body")) name.resize(name.size() - 5);
      auto found = partOf.find(name);
      owner.push_back(found == partOf.end() ? 0 : found->second);
    }
    return owner;
  }

  /// Keeps the bodies of part p's functions; the others become declarations. Functions called
  /// across parts (segments, loop wrappers) get external linkage so that the JIT links them.
  static void keepPart(llvm::Module& m, const std::vector<int>& owner, int p) {
    size_t i = 0;
    std::vector<llvm::Function*> drop;
    for (llvm::Function& f : m) {
      const int o = owner[i++];
      if (o < 0) continue;
      if (!f.getName().ends_with(".body")) f.setLinkage(llvm::GlobalValue::ExternalLinkage);
      if (o != p) drop.push_back(&f);
    }
    for (llvm::Function* f : drop) {
      f->deleteBody();
      f->setLinkage(llvm::GlobalValue::ExternalLinkage);
    }
    // Bodies of other parts' loops are now unused declarations, as are the segments' run lists
    // (ReccCall tables) and then the descriptors those tables held.
    for (llvm::Function* f : drop)
      if (f->use_empty() && f->getName().ends_with(".body")) f->eraseFromParent();
    for (bool erased = true; erased;) {
      std::vector<llvm::GlobalVariable*> unused;
      for (llvm::GlobalVariable& gv : m.globals()) {
        gv.removeDeadConstantUsers();
        if (gv.use_empty() && gv.hasPrivateLinkage()) unused.push_back(&gv);
      }
      for (llvm::GlobalVariable* gv : unused) gv->eraseFromParent();
      erased = !unused.empty();
    }
  }

  const std::string& llvmIR() const override {
    if (ir_.empty()) {  // the same module as compiled: emission and the pipeline are deterministic
      llvm::LLVMContext ctx;
      std::unique_ptr<llvm::Module> module = emitEntry(ctx, g_, fusion_, plan_, fetches_);
      optimizeModule(*module, jit_->targetMachine(), optLevel_);
      llvm::raw_string_ostream os(ir_);
      module->print(os, nullptr);
      os.flush();
    }
    return ir_;
  }
  bool fromCache() const override { return fromCache_; }
  const BufferPlan& plan() const override { return plan_; }

 private:
  static void check(size_t got, int want, const char* what) {
    if (got != static_cast<size_t>(want))
      throw DiagError({}, std::string("run: expected ") + std::to_string(want) + " " + what + ", got " +
                              std::to_string(got));
  }
  Graph g_;  // kept to regenerate the IR text on demand
  std::vector<ValueId> fetches_;
  SlotLayout layout_;
  int64_t maxBatch_;
  int optLevel_;
  FusionPlan fusion_;
  BufferPlan plan_;
  mutable std::string ir_;
  bool fromCache_ = false;
  int parts_ = 1;
  std::unique_ptr<Jit> jit_;
  EntryFn entry_ = nullptr;
  std::vector<Instance> instances_;
};

// A graph run in shards of the batch (Sharding.h): the rows part on every shard at once, each on
// its own instance (arena) of one compiled function, then the partial sums added in shard
// order, then the whole-batch part once. The shards' row ranges depend only on the batch and
// the shard count, so results are reproducible for a fixed count, like the thread pool's.
class ShardedGraph final : public CompiledGraph {
 public:
  ShardedGraph(ShardPlan plan, const CodegenOptions& opts)
      : plan_(std::move(plan)), shards_(std::min(opts.shards, ReccShardGroup::kMaxShards)), minShardRows_(std::max<int64_t>(1, opts.minShardRows)),
        maxBatch_(opts.maxBatch) {
    if (maxBatch_ <= 0) throw DiagError({}, "codegen: maxBatch must be positive");
    int64_t capacity = 1;  // the most rows one shard gets
    for (int64_t b = 1; b <= maxBatch_; ++b) capacity = std::max(capacity, (b + shardsFor(b) - 1) / shardsFor(b));
    tile_ = rowTile(plan_, capacity, opts);
    CodegenOptions rowOpts = opts;
    rowOpts.maxBatch = tile_;
    // The whole-batch part compiles meanwhile on a thread of its own: it is small, and it fills
    // a core that the rows part's unequal LLVM parts leave idle at the end.
    std::future<std::unique_ptr<JitCompiledGraph>> whole;
    if (plan_.hasWhole)
      whole = std::async(std::launch::async,
                         [&] { return std::make_unique<JitCompiledGraph>(plan_.whole, plan_.wholeFetches, opts); });
    rows_ = std::make_unique<JitCompiledGraph>(plan_.rows, plan_.rowFetches, rowOpts, shards_);
    if (whole.valid()) whole_ = whole.get();

    const Graph& r = plan_.rows;
    inputRowBytes_.assign(r.inputs.size(), 0);
    for (const Node& n : r.nodes)
      if (n.op == OpKind::Input)  // f32 and i32: 4 bytes an element
        inputRowBytes_[static_cast<size_t>(n.attrs.i("index"))] = numElements(n.shape, 1) * 4;
    partials_.resize(static_cast<size_t>(shards_));
    tileSums_.resize(static_cast<size_t>(shards_));
    for (size_t c = 0; c < partials_.size(); ++c)
      for (size_t j = 0; j < plan_.cuts; ++j) {
        const auto n = static_cast<size_t>(numElements(r.at(plan_.rowFetches[j]).shape, 1));
        partials_[c].emplace_back(n);
        if (tile_ < capacity) tileSums_[c].emplace_back(n);
      }
    for (size_t k = 0; k < plan_.exports; ++k) {
      const Shape& s = r.at(plan_.rowFetches[plan_.cuts + k]).shape;
      exports_.emplace_back(static_cast<size_t>(numElements(s, maxBatch_)));  // 4-byte elements (f32 or i32)
    }
  }

  void run(const RunArgs& a) override {
    if (a.batch < 0 || a.batch > maxBatch_)
      throw DiagError({}, "run: batch " + std::to_string(a.batch) + " exceeds the compiled maximum " +
                              std::to_string(maxBatch_));
    if (a.inputs.size() != inputRowBytes_.size() || a.fetches.size() != plan_.fetchFrom.size())
      throw DiagError({}, "run: expected " + std::to_string(inputRowBytes_.size()) + " inputs and " +
                              std::to_string(plan_.fetchFrom.size()) + " fetches");
    const int shards = shardsFor(a.batch);
    const float batch = static_cast<float>(a.batch);
    ReccShardGroup group(shards);
    auto shard = [&](int c) {
      const int64_t begin = chunkBegin(a.batch, shards, c), end = chunkBegin(a.batch, shards, c + 1);
      const ReccShard self{&group, c};
      // The shard's rows in tiles of at most tile_ rows, one after another on this thread.
      for (int64_t lo = begin; lo < end; lo += tile_) {
        const int64_t hi = std::min(end, lo + tile_);
        RunArgs s;
        s.batch = hi - lo;
        s.firstRow = a.firstRow + lo;
        s.shard = &self;
        s.opt = a.opt;
        for (size_t i = 0; i < a.inputs.size(); ++i)
          s.inputs.push_back(static_cast<const uint8_t*>(a.inputs[i]) + lo * inputRowBytes_[i]);
        s.params = a.params;
        if (plan_.batchParam) s.params.push_back(const_cast<float*>(&batch));
        // The first tile's sums over its rows go to the shard's partials, later tiles' to
        // scratch buffers added to them.
        std::vector<std::vector<float>>& sums = partials_[static_cast<size_t>(c)];
        std::vector<std::vector<float>>& scratch = tileSums_[static_cast<size_t>(c)];
        const bool later = lo > begin;
        for (size_t j = 0; j < plan_.cuts; ++j)
          s.fetches.push_back((later && plan_.cutIsPartial[j] ? scratch[j] : sums[j]).data());
        for (size_t k = plan_.cuts; k < plan_.rowFetches.size(); ++k) {
          float* base = k < plan_.cuts + plan_.exports ? exports_[k - plan_.cuts].data() : rowFetchBuffer(a, k);
          s.fetches.push_back(base + lo * numElements(plan_.rows.at(plan_.rowFetches[k]).shape, 1));
        }
        rows_->runOn(s, c);
        if (later)
          for (size_t j = 0; j < plan_.cuts; ++j)
            if (plan_.cutIsPartial[j])
              for (size_t i = 0; i < sums[j].size(); ++i) sums[j][i] += scratch[j][i];
      }
    };
    runShards(shards, shard);
    for (size_t j = 0; j < plan_.cuts; ++j) {  // shard 0's partials become the totals
      if (!plan_.cutIsPartial[j]) continue;    // every shard has the total already
      float* total = partials_[0][j].data();
      const auto n = static_cast<int64_t>(partials_[0][j].size());
      parallelFor(n, static_cast<double>(n) * (shards - 1), [&](int, int64_t lo, int64_t hi) {
        for (int c = 1; c < shards; ++c) {
          const float* part = partials_[static_cast<size_t>(c)][j].data();
          for (int64_t i = lo; i < hi; ++i) total[i] += part[i];
        }
      });
    }
    if (whole_) {
      RunArgs w;
      w.batch = a.batch;
      w.firstRow = a.firstRow;
      w.inputs = a.inputs;
      for (std::vector<float>& e : exports_) w.inputs.push_back(e.data());
      w.params = a.params;
      for (std::vector<float>& p : partials_[0]) w.params.push_back(p.data());
      w.m = a.m;
      w.v = a.v;
      w.opt = a.opt;
      w.fetches.assign(plan_.wholeFetches.size(), nullptr);
      for (size_t k = 0; k < plan_.fetchFrom.size(); ++k)
        if (plan_.fetchFrom[k].first == ShardPlan::From::Whole) w.fetches[plan_.fetchFrom[k].second] = a.fetches[k];
      whole_->run(w);
    }
    for (size_t k = 0; k < plan_.fetchFrom.size(); ++k)
      if (plan_.fetchFrom[k].first == ShardPlan::From::Cut) {
        const std::vector<float>& total = partials_[0][plan_.fetchFrom[k].second];
        std::memcpy(a.fetches[k], total.data(), total.size() * sizeof(float));
      }
  }

  void allocate() override {
    rows_->allocate();
    if (whole_) whole_->allocate();
  }

  const std::string& llvmIR() const override {
    if (ir_.empty()) ir_ = rows_->llvmIR() + (whole_ ? whole_->llvmIR() : std::string());
    return ir_;
  }
  bool fromCache() const override { return rows_->fromCache() && (!whole_ || whole_->fromCache()); }
  const BufferPlan& plan() const override { return rows_->plan(); }

 private:
  /// Runs shard(c) for every c < shards, each on its own thread at once (shard c on pool thread
  /// c: its arena stays in that core's caches from step to step). When the pool cannot (a run
  /// from inside a parallel region, or from two threads), shards without barriers run one after
  /// another, and shards with barriers on threads of their own.
  template <class F>
  void runShards(int shards, F& shard) {
    auto fn = [](void* ctx, int c, int64_t, int64_t) { (*static_cast<F*>(ctx))(c); };
    if (parallelGang(shards, fn, &shard)) return;
    if (!plan_.barriers) {
      for (int c = 0; c < shards; ++c) shard(c);
      return;
    }
    std::vector<std::thread> others;
    for (int c = 1; c < shards; ++c) others.emplace_back([&shard, c] { shard(c); });
    shard(0);
    for (std::thread& t : others) t.join();
  }

  /// Rows per run of the rows graph: a shard's whole range, or tiles of it (CodegenOptions::tileBytes).
  static int64_t rowTile(const ShardPlan& p, int64_t capacity, const CodegenOptions& o) {
    if (p.barriers || o.tileBytes <= 0 || freeProducts(p.rows)) return capacity;
    const FusionPlan f = planFusion(p.rows, p.rowFetches);
    const int64_t perRow = (planBuffers(p.rows, f, 65).arenaBytes - planBuffers(p.rows, f, 1).arenaBytes) / 64;
    const int64_t rows = std::max(o.tileBytes / std::max<int64_t>(1, perRow), o.minTileRows);
    return std::clamp<int64_t>(rows, 1, capacity);
  }

  /// Whether g multiplies values without rows (ALS-MLP's user tower over the user table, in
  /// training): every run of the rows graph does that again, so tiles would repeat it.
  static bool freeProducts(const Graph& g) {
    for (const Node& n : g.nodes) {
      if (n.op != OpKind::MatMul && n.op != OpKind::BatchMatMul) continue;
      bool rows = false;
      for (ValueId in : n.inputs) rows |= hasBatch(g.at(in).shape);
      if (!rows) return true;
    }
    return false;
  }

  int shardsFor(int64_t batch) const {
    return static_cast<int>(std::clamp<int64_t>(batch / minShardRows_, 1, shards_));
  }
  // The caller's buffer for row fetch k of the rows graph.
  float* rowFetchBuffer(const RunArgs& a, size_t k) const {
    for (size_t f = 0; f < plan_.fetchFrom.size(); ++f)
      if (plan_.fetchFrom[f].first == ShardPlan::From::Rows && plan_.fetchFrom[f].second == k) return a.fetches[f];
    return nullptr;
  }

  ShardPlan plan_;
  int shards_;
  int64_t minShardRows_;
  int64_t tile_ = 1;
  int64_t maxBatch_;
  std::unique_ptr<JitCompiledGraph> rows_, whole_;
  std::vector<int64_t> inputRowBytes_;
  std::vector<std::vector<std::vector<float>>> partials_;  // per shard, per cut
  std::vector<std::vector<std::vector<float>>> tileSums_;  // per shard, per cut: a later tile's sums
  std::vector<std::vector<float>> exports_;                // per export: [maxBatch, ...]
  mutable std::string ir_;
};

}  // namespace

std::unique_ptr<CompiledGraph> CompiledGraph::compile(const Graph& g, std::vector<ValueId> fetches,
                                                      const CodegenOptions& opts) {
  if (opts.shards > 1) {
    checkLowerable(g, fetches);
    if (std::optional<ShardPlan> plan = planShards(g, fetches, nullptr))
      return std::make_unique<ShardedGraph>(std::move(*plan), opts);
  }
  return std::make_unique<JitCompiledGraph>(g, std::move(fetches), opts);
}

}  // namespace recc
