// CompiledGraph::compile(): fusion, buffer planning, LLVM emission, optimisation and JIT.
#include "compiler/codegen/Compiler.h"

#include <cstdlib>

#include <llvm/Support/raw_ostream.h>

#include "compiler/codegen/BufferPlan.h"
#include "compiler/codegen/Emitter.h"
#include "compiler/codegen/Fusion.h"
#include "compiler/codegen/Jit.h"
#include "compiler/codegen/Lowering.h"

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
    if (g.at(v).op == OpKind::Update)
      throw DiagError(g.at(v).loc, "codegen: an update has no value to fetch");
  }
}

class JitCompiledGraph final : public CompiledGraph {
 public:
  JitCompiledGraph(const Graph& g, std::vector<ValueId> fetches, const CodegenOptions& opts)
      : fetches_(std::move(fetches)), layout_(SlotLayout::of(g, fetches_.size())),
        maxBatch_(opts.maxBatch) {
    checkLowerable(g, fetches_);
    if (opts.maxBatch <= 0) throw DiagError({}, "codegen: maxBatch must be positive");
    FusionPlan fusion = planFusion(g, fetches_);
    plan_ = planBuffers(g, fusion, opts.maxBatch);

    auto jit = Jit::create();
    if (!jit) throw jitError(jit.takeError());
    jit_ = std::move(*jit);
    auto ctx = std::make_unique<llvm::LLVMContext>();
    std::unique_ptr<llvm::Module> module = emitEntry(*ctx, g, fusion, plan_, fetches_);
    optimizeModule(*module, jit_->targetMachine(), opts.optLevel);
    llvm::raw_string_ostream os(ir_);
    module->print(os, nullptr);
    os.flush();
    if (auto err = jit_->addModule(llvm::orc::ThreadSafeModule(std::move(module), std::move(ctx))))
      throw jitError(std::move(err));
    auto fn = jit_->lookup(kEntryName);
    if (!fn) throw jitError(fn.takeError());
    entry_ = reinterpret_cast<EntryFn>(*fn);

    // One arena for the graph's lifetime: run() allocates nothing.
    const size_t bytes = static_cast<size_t>((plan_.arenaBytes + kArenaAlign - 1) / kArenaAlign + 1) *
                         static_cast<size_t>(kArenaAlign);
    arena_.reset(static_cast<uint8_t*>(std::aligned_alloc(kArenaAlign, bytes)));
    if (!arena_) throw DiagError({}, "codegen: cannot allocate a " + std::to_string(bytes) + "-byte arena");
    slots_.assign(static_cast<size_t>(layout_.total()), nullptr);
  }

  void run(const RunArgs& a) override {
    if (a.batch < 0 || a.batch > maxBatch_)
      throw DiagError({}, "run: batch " + std::to_string(a.batch) + " exceeds the compiled maximum " +
                              std::to_string(maxBatch_));
    check(a.inputs.size(), layout_.inputs, "inputs");
    check(a.params.size(), layout_.params, "params");
    check(a.fetches.size(), layout_.fetches, "fetches");
    for (int i = 0; i < layout_.inputs; ++i)
      slots_[static_cast<size_t>(layout_.input(i))] = const_cast<void*>(a.inputs[static_cast<size_t>(i)]);
    for (int p = 0; p < layout_.params; ++p) {
      auto up = static_cast<size_t>(p);
      slots_[static_cast<size_t>(layout_.param(p))] = a.params[up];
      slots_[static_cast<size_t>(layout_.m(p))] = up < a.m.size() ? a.m[up] : nullptr;
      slots_[static_cast<size_t>(layout_.v(p))] = up < a.v.size() ? a.v[up] : nullptr;
    }
    slots_[static_cast<size_t>(layout_.opt())] = const_cast<ReccOptimizer*>(a.opt);
    for (int k = 0; k < layout_.fetches; ++k)
      slots_[static_cast<size_t>(layout_.fetch(k))] = a.fetches[static_cast<size_t>(k)];
    entry_(a.batch, slots_.data(), arena_.get());
  }

  const std::string& llvmIR() const override { return ir_; }
  const BufferPlan& plan() const override { return plan_; }

 private:
  static void check(size_t got, int want, const char* what) {
    if (got != static_cast<size_t>(want))
      throw DiagError({}, std::string("run: expected ") + std::to_string(want) + " " + what + ", got " +
                              std::to_string(got));
  }
  struct Free {
    void operator()(uint8_t* p) const { std::free(p); }
  };

  std::vector<ValueId> fetches_;
  SlotLayout layout_;
  int64_t maxBatch_;
  BufferPlan plan_;
  std::string ir_;
  std::unique_ptr<Jit> jit_;
  EntryFn entry_ = nullptr;
  std::unique_ptr<uint8_t[], Free> arena_;
  std::vector<void*> slots_;
};

}  // namespace

std::unique_ptr<CompiledGraph> CompiledGraph::compile(const Graph& g, std::vector<ValueId> fetches,
                                                      const CodegenOptions& opts) {
  return std::make_unique<JitCompiledGraph>(g, std::move(fetches), opts);
}

}  // namespace recc
