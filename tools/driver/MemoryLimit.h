// Refuses, before anything is allocated, a model whose parameters, optimizer state and compiled
// arenas would not fit in the machine's available memory.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "compiler/ir/Graph.h"

namespace recc {

/// Bytes of memory available to this process (MemAvailable, or physical memory).
uint64_t availableMemoryBytes();

/// The arena one compiled graph allocates for its intermediates (CompiledGraph::plan()).
struct ArenaUse {
  std::string what;  // "training step", "inference"
  int64_t batch = 0;  // the largest batch it is compiled for: the arena grows with it
  long double bytes = 0;
};

/// The arena CompiledGraph::compile(g, fetches, {maxBatch}) will allocate, computed here with the
/// same buffer planner (compiler/codegen/BufferPlan.h) so that it can be checked first. If the
/// materialised values at maxBatch add up to 2^62 bytes or more, the planner's int64 arithmetic
/// could wrap, so their sum (an upper bound, and more than any machine has) is returned instead.
ArenaUse planArena(const std::string& what, const Graph& g, const std::vector<ValueId>& fetches, int64_t maxBatch);

/// Throws DiagError naming the sizes needed (parameters, optimizer state, each arena and its
/// batch) and what to reduce when params x (1 + stateCopies) floats plus the arenas exceed the
/// available memory. Vocabularies must be bound. Element counts are computed in long double
/// (a dimension product beyond 2^63 is reported, not wrapped).
void checkModelFitsMemory(const Graph& g, int stateCopies, const std::vector<ArenaUse>& arenas = {});

}  // namespace recc
