// Execution engines: the JIT (compiled graph) and the reference evaluator behind one interface,
// so the trainer can run either (--engine=jit|reference) and tests can compare them.
#pragma once
#include <memory>
#include <string>
#include <vector>

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
  /// Seconds spent compiling (0 for the reference evaluator).
  virtual double compileSeconds() const { return 0; }
};

/// `g` must have bound vocabularies. `maxBatch` bounds the batch of every later run().
std::unique_ptr<Engine> makeEngine(const std::string& kind, const Graph& g,
                                   const std::vector<ValueId>& fetches, int64_t maxBatch);

}  // namespace recc
