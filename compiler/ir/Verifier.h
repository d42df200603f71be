// Graph verifier: SSA order, arity, and every node's shape re-derived by its shape rule
// (the same function the builder used, as XLA's ShapeVerifier does).
#pragma once
#include "compiler/ir/Graph.h"

namespace recc {

/// Throws DiagError (at the offending node's location) on the first violation.
void verify(const Graph& g);

}  // namespace recc
