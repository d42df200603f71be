// Execution engines: the JIT (compiled graph) and the reference evaluator behind one interface,
// so the trainer can run either (--engine=jit|reference) and tests can compare them.
#pragma once
#include <memory>
#include <string>
#include <vector>

#include "compiler/codegen/Compiler.h"
#include "compiler/ir/Graph.h"
#include "runtime/reference/Evaluator.h"

namespace recc {

class Engine {
 public:
  virtual ~Engine() = default;
  /// Runs the graph on one batch: `inputs` per Graph::inputs, `fetches` receive the values of
  /// the graph's fetch list (in order). Parameters and optimizer state live in `state`.
  virtual void run(int64_t batch, const std::vector<const void*>& inputs, ParamState& state,
                   const std::vector<float*>& fetches) = 0;
};

/// How the JIT engine compiles a graph run at batches up to `maxBatch` (`recc compile` compiles
/// with the same options, so that its object code is what `recc train` finds in the cache).
CodegenOptions engineOptions(int64_t maxBatch);

/// `g` must have bound vocabularies. `maxBatch` bounds the batch of every later run(). The JIT
/// runs a graph in two parts (passes/Hoisting.h): its parameter-only values once per
/// ParamState::version (for a training step: once per step, before it), the rest per batch.
std::unique_ptr<Engine> makeEngine(const std::string& kind, const Graph& g,
                                   const std::vector<ValueId>& fetches, int64_t maxBatch);

}  // namespace recc
