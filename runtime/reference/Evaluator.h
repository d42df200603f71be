// The reference evaluator: runs a Graph op by op, naively, in double-checked C++. It is the
// oracle for the JIT (tests compare every zoo model's outputs and gradients against it).
#pragma once
#include <cstdint>
#include <vector>

#include "compiler/ir/Graph.h"
#include "runtime/kernels/Kernels.h"

namespace recc {

/// A dense row-major host tensor with a concrete shape.
struct Tensor {
  DType dtype = DType::F32;
  std::vector<int64_t> shape;
  std::vector<float> f;    // when F32
  std::vector<int32_t> i;  // when I32
  int64_t size() const;
  static Tensor zerosF32(std::vector<int64_t> shape);
  static Tensor ids(std::vector<int64_t> shape, std::vector<int32_t> values);
};

/// A number no ParamState of this process has had yet.
uint64_t freshParamVersion();

/// Model state the graph reads and (Gather with max_norm, Update) writes.
struct ParamState {
  /// Per Graph::params, row-major. A table stored as row records (ParamDecl::rowRecords) holds
  /// its rows' weights and moments here, [w | m | v] per row, and has empty m and v below.
  std::vector<std::vector<float>> values;
  std::vector<std::vector<float>> m, v;  // optimizer moments, per param (same sizes)
  ReccOptimizer opt{2, 1e-3f, 0.9f, 0.999f, 1e-8f, 0.01f, 0};
  /// Names the current `values`: a copy keeps it, and an engine that writes them (a training
  /// step) gives them a fresh one, so that values computed from the parameters once (hoisted
  /// out of an inference graph, passes/Hoisting.h) are recomputed exactly when they changed.
  /// Code that writes `values` by hand calls touch().
  uint64_t version = freshParamVersion();
  void touch() { version = freshParamVersion(); }
};

/// Evaluates every node of `g` (vocabularies must be bound). `inputs` follow Graph::inputs
/// with leading dim = batch. Returns the value of every node (Update nodes: empty tensors).
std::vector<Tensor> evaluate(const Graph& g, int64_t batch, const std::vector<Tensor>& inputs,
                             ParamState& state);

/// Initialises parameters per ParamDecl (normal/uniform/zeros/ones) from a seeded generator;
/// moments are zeroed. Deterministic for a given seed (the JIT path uses the same function).
ParamState initParams(const Graph& g, uint64_t seed);

/// Parameter p's values (part 0), m (1) or v (2) as one dense row-major array, whatever its
/// storage: what checkpoints hold. An absent moment is empty.
std::vector<float> denseParam(const Graph& g, const ParamState& s, size_t p, int part);

/// Sets parameter p from dense row-major arrays into its storage (absent moments stay absent,
/// or zero in a row record).
void setDenseParam(const Graph& g, ParamState& s, size_t p, const std::vector<float>& values,
                   const std::vector<float>& m, const std::vector<float>& v);

/// Where the kernels find p's m (part 1) or v (part 2), rows rowStride apart; null if absent.
float* momentData(const Graph& g, ParamState& s, size_t p, int part);

/// True if the evaluator implements the op.
bool hasReferenceRule(OpKind op);

}  // namespace recc
