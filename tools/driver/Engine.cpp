// JIT and reference engines.
#include "tools/driver/Engine.h"

#include <cstdlib>
#include <cstring>

#include "compiler/codegen/Compiler.h"
#include "compiler/passes/Hoisting.h"
#include "runtime/kernels/Parallel.h"

namespace recc {

namespace {

/// Whether running g changes parameter values: optimizer steps, running statistics, renormalising
/// lookups.
bool writesParams(const Graph& g) {
  for (const Node& n : g.nodes)
    if (opInfo(n.op).cls == OpClass::Update || n.op == OpKind::BatchMoments ||
        (n.op == OpKind::Gather && n.attrs.f("max_norm") != 0))
      return true;
  return false;
}

class JitEngine : public Engine {
 public:
  /// `derived`: buffers of g's parameters past the state's (ParamDecl::derived), owned by the caller.
  JitEngine(const Graph& g, std::vector<ValueId> fetches, int64_t maxBatch, std::vector<float*> derived = {})
      : g_(g), derived_(std::move(derived)), writes_(writesParams(g)) {
    compiled_ = CompiledGraph::compile(g, std::move(fetches), engineOptions(maxBatch));
    compiled_->allocate();
  }
  void run(int64_t batch, const std::vector<const void*>& inputs, ParamState& state,
           const std::vector<float*>& fetches) override {
    if (args_.params.empty()) {  // pointers into state are stable: vectors are never resized
      for (size_t p = 0; p < state.values.size(); ++p) {
        args_.params.push_back(state.values[p].data());
        // No moments: a state only inference runs on (a graph without updates never reads them).
        args_.m.push_back(momentData(g_, state, p, 1));
        args_.v.push_back(momentData(g_, state, p, 2));
      }
      for (float* d : derived_) {
        args_.params.push_back(d);
        args_.m.push_back(nullptr);
        args_.v.push_back(nullptr);
      }
    }
    args_.batch = batch;
    args_.inputs = inputs;
    args_.opt = &state.opt;
    args_.fetches = fetches;
    compiled_->run(args_);
    if (writes_) state.touch();
  }

 private:
  const Graph& g_;  // outlives the engine (the caller's, or HoistingJitEngine's member)
  std::unique_ptr<CompiledGraph> compiled_;
  RunArgs args_;
  std::vector<float*> derived_;
  bool writes_;
};

/// A graph whose parameter-only values (passes/Hoisting.h) a second compiled graph computes
/// once per parameter version (ParamState::version) instead of once per batch: serving, or
/// evaluating after an epoch, runs many batches with the same parameters. A training step makes
/// a new version every time; its part computed once then serves all of the step's shards.
class HoistingJitEngine : public Engine {
 public:
  HoistingJitEngine(Graph g, std::vector<ValueId> fetches, int64_t maxBatch) : main_(std::move(g)) {
    prep_ = hoistParameterOnly(main_, fetches);
    std::vector<float*> buffers;
    for (const NamedValue& o : prep_.outputs) {
      derived_.emplace_back(static_cast<size_t>(numElements(prep_.at(o.value).shape, 1)));
      buffers.push_back(derived_.back().data());
    }
    if (!buffers.empty()) prepEngine_ = std::make_unique<JitEngine>(prep_, outputValues(prep_), 1);
    engine_ = std::make_unique<JitEngine>(main_, std::move(fetches), maxBatch, std::move(buffers));
  }
  void run(int64_t batch, const std::vector<const void*>& inputs, ParamState& state,
           const std::vector<float*>& fetches) override {
    if (prepEngine_ && state.version != preparedVersion_) {
      std::vector<float*> out;
      for (std::vector<float>& d : derived_) out.push_back(d.data());
      prepEngine_->run(1, {}, state, out);
      preparedVersion_ = state.version;
    }
    engine_->run(batch, inputs, state, fetches);
  }

 private:
  Graph main_, prep_;
  std::vector<std::vector<float>> derived_;  // per prep_ output: main_'s derived parameters
  std::unique_ptr<Engine> prepEngine_, engine_;
  uint64_t preparedVersion_ = 0;  // versions start at 1
};

class ReferenceEngine : public Engine {
 public:
  ReferenceEngine(const Graph& g, std::vector<ValueId> fetches)
      : g_(g), fetches_(std::move(fetches)), writes_(writesParams(g)) {}
  void run(int64_t batch, const std::vector<const void*>& inputs, ParamState& state,
           const std::vector<float*>& fetches) override {
    std::vector<Tensor> ts(g_.inputs.size());
    for (size_t k = 0; k < g_.inputs.size(); ++k) {
      const InputDecl& d = g_.inputs[k];
      bool ids = d.kind == InputKind::Id || d.kind == InputKind::Ids;
      int64_t width = d.length > 0 ? d.length : 1;
      Tensor& t = ts[k];
      t.shape = {batch};
      if (d.length > 0) t.shape.push_back(d.length);
      t.dtype = ids ? DType::I32 : DType::F32;
      size_t n = static_cast<size_t>(batch * width);
      if (ids) {
        const auto* p = static_cast<const int32_t*>(inputs[k]);
        t.i.assign(p, p + n);
      } else {
        const auto* p = static_cast<const float*>(inputs[k]);
        t.f.assign(p, p + n);
      }
    }
    std::vector<Tensor> values = evaluate(g_, batch, ts, state);
    if (writes_) state.touch();
    for (size_t k = 0; k < fetches_.size(); ++k) {
      const Tensor& v = values[static_cast<size_t>(fetches_[k])];
      std::memcpy(fetches[k], v.f.data(), v.f.size() * sizeof(float));
    }
  }

 private:
  const Graph& g_;
  std::vector<ValueId> fetches_;
  bool writes_;
};

}  // namespace

CodegenOptions engineOptions(int64_t maxBatch) {
  CodegenOptions opts;
  opts.maxBatch = maxBatch;
  // Rows split over the threads; a graph without a batch (derived parameters, run at batch 1)
  // runs whole, each op splitting its own work.
  opts.shards = maxBatch > 1 ? threadCount() : 1;
  return opts;
}

std::unique_ptr<Engine> makeEngine(const std::string& kind, const Graph& g,
                                   const std::vector<ValueId>& fetches, int64_t maxBatch) {
  if (kind == "reference") return std::make_unique<ReferenceEngine>(g, fetches);
  // RECC_NO_HOIST=1 runs every value per batch (to measure what hoisting saves).
  const char* noHoist = std::getenv("RECC_NO_HOIST");
  if (!noHoist || std::string(noHoist) != "1")
    return std::make_unique<HoistingJitEngine>(g, fetches, maxBatch);
  return std::make_unique<JitEngine>(g, fetches, maxBatch);
}

}  // namespace recc
