// Reverse-mode autodiff on the graph and the training-step graph built from it.
#pragma once
#include <functional>

#include "compiler/ir/Graph.h"

namespace recc {

/// Sets g.loss = sum_i weight_i * losses_i (a scalar node) and appends the backward pass:
/// g.grads[p] = d(loss)/d(params[p]) (-1 if the loss does not depend on it). Gradients that
/// reach a value along several paths are summed. Throws DiagError if the model has no loss.
void differentiate(Graph& g);

/// forward graph -> training step: algebraic rewrites (passes/Algebra.h), differentiate, then
/// one Update(param, grad) node per parameter with a gradient (the optimizer step), then
/// dead-code elimination keeping the loss and the updates. A table declared with sparse updates
/// (ParamDecl::sparseUpdate) whose gradient is a sum of scatter_adds (it is read only by
/// gathers) gets a SparseUpdate of the scattered rows instead, so that its step costs what the
/// batch touches rather than the whole table. The rewrites weigh costs at batch size `batch`
/// (the training batch). The result is verified.
Graph buildTrainStep(const Graph& forward, int64_t batch = 1024);

/// The batches one product over a table's rows is taken to serve at inference (Algebra.h,
/// sinkGathers) when the caller does not know: the JIT computes it once per parameter version
/// (passes/Hoisting.h), and an evaluation pass or a serving run reads it for many batches; 4 is
/// a data set of 16k rows at batch 4096.
inline constexpr double kInferenceTableReuse = 4;

/// The batches of `batch` rows one parameter version serves when it scores `rows` rows (an
/// evaluation pass over a test set, a `recc predict` run), at least 1.
double batchesServed(int64_t rows, int64_t batch);

/// forward graph -> inference graph: only what `outputs` need (no labels, no losses), with the
/// training-mode ops in their inference form (toInferenceMode) and the algebraic rewrites.
/// `batch`: the inference batch the rewrites weigh costs at; `reuse`: the batches one parameter
/// version serves (batchesServed). A product over a table's rows pays for itself only over
/// enough batches: at 2.5 batches (the bundled test set), the movie field of FNN, DeepFM and
/// Wide&Deep stays a per-row product.
Graph buildInference(const Graph& forward, int64_t batch = 4096, double reuse = kInferenceTableReuse);

/// The same graph with training-mode ops rewritten for serving: Dropout becomes the identity
/// (its users read its operand) and BatchMoments the running statistics, [running_mean;
/// 1/sqrt(running_var + eps)] (no side effect), which batch_norm's elementwise ops then
/// apply. Outputs,
/// losses and named values are renumbered; nothing else changes.
Graph toInferenceMode(const Graph& forward);

/// Removes nodes that neither `roots` nor Update nodes (unless !keepUpdates) depend on;
/// renumbers every ValueId (outputs, losses, loss, grads, named values that survive). `roots`
/// are updated in place.
void eliminateDeadCode(Graph& g, std::vector<ValueId>& roots, bool keepUpdates = true);

/// After a pass rebuilt g.nodes, points outputs, named values, losses, the loss and the
/// gradients at the new ids (newId[old]); entries whose new id is -1 are dropped.
void renumberValues(Graph& g, const std::vector<ValueId>& newId);

/// Rebuilds g.nodes in order, the shape of every local rewrite pass: `rewrite(b, n)` sees each
/// node with its operands already renumbered and returns the value that replaces it (built with
/// b, or an existing one), or -1 to keep it as is. Replacements only append, so the graph stays
/// topologically sorted; outputs, named values, losses and gradients are renumbered. Returns the
/// number of nodes replaced; with none, g is left untouched.
int rebuildNodes(Graph& g, const std::function<ValueId(GraphBuilder& b, const Node& n)>& rewrite);

}  // namespace recc
