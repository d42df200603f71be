// Refuses, before anything is allocated, a model whose parameters and optimizer state would not
// fit in the machine's available memory.
#pragma once
#include <cstdint>

#include "compiler/ir/Graph.h"

namespace recc {

/// Bytes of memory available to this process (MemAvailable, or physical memory).
uint64_t availableMemoryBytes();

/// Throws DiagError naming the size needed when params x (1 + stateCopies) floats (plus
/// `extraBytes`) exceed the available memory. Vocabularies must be bound. Element counts are
/// computed with overflow checks (a dimension product beyond 2^63 is reported, not wrapped).
void checkModelFitsMemory(const Graph& g, int stateCopies, uint64_t extraBytes = 0);

}  // namespace recc
