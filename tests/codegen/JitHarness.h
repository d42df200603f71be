// Test helpers: build small graphs, run them through the JIT and the reference evaluator.
#pragma once
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <map>
#include <random>
#include <string>
#include <vector>

#include "compiler/codegen/Compiler.h"
#include "compiler/frontend/Frontend.h"
#include "runtime/reference/Evaluator.h"

namespace recc::test {

/// zoo/<name>.rec with its vocabularies bound to `vocab`'s (small) sizes.
inline Graph loadZooModel(const std::string& name, const std::map<std::string, int64_t>& vocab) {
  Graph g = buildModel(std::string(RECC_SOURCE_DIR) + "/zoo/" + name + ".rec");
  bindVocabularies(g, vocab);
  return g;
}

/// A graph under construction with declared inputs and params.
struct TestGraph {
  Graph g;
  GraphBuilder b{g};
  std::map<std::string, int64_t> vocab;  // id inputs draw from [0, vocab[name])

  ValueId dense(int64_t length) {  // f32 [B, length] (or [B] when 0)
    InputDecl d;
    d.name = "x" + std::to_string(g.inputs.size());
    d.kind = InputKind::Dense;
    d.length = length;
    return addInput(d);
  }
  ValueId label() {
    InputDecl d;
    d.name = "y" + std::to_string(g.inputs.size());
    d.kind = InputKind::Label;
    return addInput(d);
  }
  ValueId ids(const std::string& vocabName, int64_t rows, int64_t length) {  // i32 [B] or [B, L]
    InputDecl d;
    d.name = "id" + std::to_string(g.inputs.size());
    d.vocab = vocabName;
    d.kind = length ? InputKind::Ids : InputKind::Id;
    d.length = length;
    vocab[vocabName] = rows;
    return addInput(d);
  }
  ValueId param(Shape s, const std::string& init = "normal", double scale = 1.0) {
    ParamDecl p;
    p.name = "p" + std::to_string(g.params.size());
    p.shape = std::move(s);
    p.init = init;
    p.scale = scale;
    g.params.push_back(p);
    return b.add(OpKind::Param, {}, Attrs().set("index", static_cast<int64_t>(g.params.size() - 1)));
  }
  ValueId op(OpKind k, std::vector<ValueId> in, Attrs a = {}) { return b.add(k, std::move(in), std::move(a)); }

 private:
  ValueId addInput(const InputDecl& d) {
    g.inputs.push_back(d);
    return b.add(OpKind::Input, {}, Attrs().set("index", static_cast<int64_t>(g.inputs.size() - 1)));
  }
};

inline std::vector<Tensor> randomInputs(const Graph& g, const std::map<std::string, int64_t>& vocab,
                                        int64_t batch, uint32_t seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> normal(0.f, 1.f);
  std::vector<Tensor> out;
  for (const InputDecl& d : g.inputs) {
    std::vector<int64_t> shape = {batch};
    if (d.length > 0) shape.push_back(d.length);
    Tensor x;
    x.shape = shape;
    int64_t n = d.length > 0 ? batch * d.length : batch;
    if (d.kind == InputKind::Id || d.kind == InputKind::Ids) {
      x.dtype = DType::I32;
      std::uniform_int_distribution<int32_t> pick(0, static_cast<int32_t>(vocab.at(d.vocab) - 1));
      for (int64_t i = 0; i < n; ++i) x.i.push_back(pick(rng));
    } else if (d.kind == InputKind::Label) {
      for (int64_t i = 0; i < n; ++i) x.f.push_back(static_cast<float>(rng() % 2));
    } else {
      for (int64_t i = 0; i < n; ++i) x.f.push_back(normal(rng));
    }
    out.push_back(std::move(x));
  }
  return out;
}

inline ::testing::AssertionResult near(const std::vector<float>& got, const std::vector<float>& want,
                                       const std::string& what, double rtol = 1e-5, double atol = 1e-6) {
  if (got.size() != want.size())
    return ::testing::AssertionFailure() << what << ": size " << got.size() << " vs " << want.size();
  for (size_t i = 0; i < got.size(); ++i) {
    double err = std::fabs(static_cast<double>(got[i]) - want[i]);
    if (!(err <= atol + rtol * std::fabs(want[i])))
      return ::testing::AssertionFailure() << what << "[" << i << "]: jit " << got[i] << " vs reference "
                                           << want[i];
  }
  return ::testing::AssertionSuccess();
}

/// Runs `fetches` through the JIT (maxBatch 8) and the reference at `batch`; compares every
/// fetched value and the final parameter/moment state (gathers renormalise, updates step).
inline ::testing::AssertionResult matchesReference(const Graph& g, const std::map<std::string, int64_t>& vocab,
                                                   const std::vector<ValueId>& fetches, int64_t batch = 5,
                                                   uint32_t seed = 7, int64_t maxBatch = 8, int runs = 1,
                                                   ReccOptimizer optimizer = {2, 0.01f, 0.9f, 0.999f, 1e-8f, 0.01f, 1, 5},
                                                   double paramAtol = 1e-6, int shards = 1,
                                                   int64_t tileRows = 0) {
  struct {
    const Graph& g;
  } t{g};
  std::vector<Tensor> inputs = randomInputs(g, vocab, batch, seed);
  ParamState ref = initParams(t.g, seed);
  ParamState jit = ref;
  jit.opt = ref.opt = optimizer;

  CodegenOptions opts;
  opts.maxBatch = maxBatch;
  opts.shards = shards;
  opts.minShardRows = 1;
  if (tileRows > 0) {  // shards run in tiles of tileRows rows (where they can)
    opts.tileBytes = 1;
    opts.minTileRows = tileRows;
  }
  auto cg = CompiledGraph::compile(t.g, fetches, opts);
  RunArgs args;
  args.batch = batch;
  for (const Tensor& x : inputs)
    args.inputs.push_back(x.dtype == DType::I32 ? static_cast<const void*>(x.i.data()) : x.f.data());
  for (size_t p = 0; p < t.g.params.size(); ++p) {
    args.params.push_back(jit.values[p].data());
    args.m.push_back(momentData(t.g, jit, p, 1));
    args.v.push_back(momentData(t.g, jit, p, 2));
  }
  args.opt = &jit.opt;
  std::vector<std::vector<float>> out(fetches.size());
  for (size_t k = 0; k < fetches.size(); ++k) {
    out[k].assign(static_cast<size_t>(numElements(t.g.at(fetches[k]).shape, batch)), -777.f);
    args.fetches.push_back(out[k].data());
  }
  for (int r = 0; r < runs; ++r) {
    std::vector<Tensor> want = evaluate(t.g, batch, inputs, ref);
    cg->run(args);
    jit.opt.step = ++ref.opt.step;
    for (size_t k = 0; k < fetches.size(); ++k) {
      const Tensor& w = want[static_cast<size_t>(fetches[k])];
      std::vector<float> wf = w.f;
      if (w.dtype == DType::I32) wf.assign(w.i.begin(), w.i.end());
      std::vector<float> got = out[k];
      if (t.g.at(fetches[k]).dtype == DType::I32) {  // fetched ids: compare the bit patterns
        std::vector<int32_t> gi(got.size());
        std::memcpy(gi.data(), got.data(), got.size() * 4);
        got.assign(gi.begin(), gi.end());
      }
      auto r1 = near(got, wf, std::string("fetch ") + std::to_string(k) + " (" +
                                  opName(t.g.at(fetches[k]).op) + ")");
      if (!r1) return r1;
    }
  }
  for (size_t p = 0; p < t.g.params.size(); ++p) {
    // Dense views: a table stored as row records compares its weights and moments apart.
    auto part = [&](const ParamState& s, int k) { return denseParam(t.g, s, p, k); };
    if (auto r = near(part(jit, 0), part(ref, 0), "param " + std::to_string(p), 1e-5, paramAtol); !r) return r;
    if (auto r = near(part(jit, 1), part(ref, 1), "m " + std::to_string(p), 1e-4, 1e-7); !r) return r;
    if (auto r = near(part(jit, 2), part(ref, 2), "v " + std::to_string(p), 1e-4, 1e-9); !r) return r;
  }
  return ::testing::AssertionSuccess();
}

inline ::testing::AssertionResult matchesReference(const TestGraph& t, const std::vector<ValueId>& fetches,
                                                   int64_t batch = 5, uint32_t seed = 7,
                                                   int64_t maxBatch = 8, int runs = 1) {
  return matchesReference(t.g, t.vocab, fetches, batch, seed, maxBatch, runs);
}

}  // namespace recc::test
