// Work that depends on the parameters alone, taken out of a graph that runs once per batch.
#pragma once
#include <vector>

#include "compiler/ir/Graph.h"

namespace recc {

/// Splits `g` in two. Values that read no input and no batch size are the same for every batch
/// until the parameters change: the table products T W that gather sinking made (DIN's history
/// items times the attention unit's first layer, ALS-MLP's user tower), the weight differences
/// of factored products, positional encodings. In a training step (a graph with updates) they
/// change every step, but computing them once before it, from the parameters the step's
/// updates have not yet written, spares every shard of the step its own copy. The returned
/// graph computes every such value that an input-dependent value reads, as its outputs in order
/// (outputs, named values and losses of `g` are not copied into it). In `g` the k-th of them
/// becomes a parameter appended to g.params (ParamDecl::derived), so a caller computes them once
/// per parameter version and runs `g` per batch. Parameters and constants themselves stay; the
/// nodes only the hoisted values needed are removed. `roots` (values of `g`, such as fetches)
/// are renumbered in place. With nothing to hoist, the returned graph has no outputs and `g` is
/// unchanged.
Graph hoistParameterOnly(Graph& g, std::vector<ValueId>& roots);

}  // namespace recc
