// JIT and reference engines.
#include "tools/driver/Engine.h"

#include <chrono>
#include <cstring>

#include "compiler/codegen/Compiler.h"
#include "runtime/kernels/Parallel.h"

namespace recc {

namespace {

class JitEngine : public Engine {
 public:
  JitEngine(const Graph& g, std::vector<ValueId> fetches, int64_t maxBatch) {
    auto t0 = std::chrono::steady_clock::now();
    CodegenOptions opts;
    opts.maxBatch = maxBatch;
    opts.shards = threadCount();
    compiled_ = CompiledGraph::compile(g, std::move(fetches), opts);
    seconds_ = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    compiled_->allocate();
  }
  void run(int64_t batch, const std::vector<const void*>& inputs, ParamState& state,
           const std::vector<float*>& fetches) override {
    if (args_.params.empty()) {  // pointers into state are stable: vectors are never resized
      for (size_t p = 0; p < state.values.size(); ++p) {
        args_.params.push_back(state.values[p].data());
        args_.m.push_back(state.m[p].data());
        args_.v.push_back(state.v[p].data());
      }
    }
    args_.batch = batch;
    args_.inputs = inputs;
    args_.opt = &state.opt;
    args_.fetches = fetches;
    compiled_->run(args_);
  }
  double compileSeconds() const override { return seconds_; }

 private:
  std::unique_ptr<CompiledGraph> compiled_;
  RunArgs args_;
  double seconds_ = 0;
};

class ReferenceEngine : public Engine {
 public:
  ReferenceEngine(const Graph& g, std::vector<ValueId> fetches) : g_(g), fetches_(std::move(fetches)) {}
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
    for (size_t k = 0; k < fetches_.size(); ++k) {
      const Tensor& v = values[static_cast<size_t>(fetches_[k])];
      std::memcpy(fetches[k], v.f.data(), v.f.size() * sizeof(float));
    }
  }

 private:
  const Graph& g_;
  std::vector<ValueId> fetches_;
};

}  // namespace

std::unique_ptr<Engine> makeEngine(const std::string& kind, const Graph& g,
                                   const std::vector<ValueId>& fetches, int64_t maxBatch) {
  if (kind == "reference") return std::make_unique<ReferenceEngine>(g, fetches);
  return std::make_unique<JitEngine>(g, fetches, maxBatch);
}

}  // namespace recc
