// Algebraic rewrites of the forward graph that cut work without changing what it computes.
#pragma once
#include "compiler/ir/Graph.h"

namespace recc {

/// matmul(concat([p_1, ..., p_k], last axis), W) = sum_k matmul(p_k, W_k) with W_k the rows of
/// W that meet p_k. When the parts are sums and differences of fewer distinct tensors (atoms),
/// each atom is multiplied once by the signed sum of its row blocks, and an atom that is a
/// broadcast (a per-row vector repeated over a sequence) is multiplied before it is broadcast:
/// DIN's attention input [h, t, h - t, h * t] becomes h (W_1 + W_3) + t (W_2 - W_3) + (h*t) W_4,
/// with t W done once per row instead of once per position. Applied only where it saves a
/// quarter of the multiplications at batch size `batch` (counting a lookup as sinkGathers will
/// leave it, with the same `reuse`);
/// flatten(stack(fields)) counts as a concat, and concats nested in the parts are expanded
/// (FNN's concat([flatten(v), fm_bi_interaction(v)])). Outputs, losses, named values and gradients are
/// renumbered. Returns the number of products rewritten.
int factorConcatMatmuls(Graph& g, int64_t batch, double reuse = 1);

/// Products with a contraction or a result dimension of 1, rewritten as loops: an outer product
/// (K = 1: the input gradient of a one-output layer) becomes a broadcast multiply, a
/// matrix-vector product (N = 1: the one-output layer) a sum over the last axis, a weight
/// gradient with one output or one input (ta = 1, N = 1 or M = 1) a column sum of a broadcast
/// product. As matmuls they ran at memory speed at best, writing results that the next loop read
/// back (DIN's attention scores: [B*T,40] x [40,1] and its gradients at 1.5-4 GFLOP/s); as
/// loops they fuse with their neighbours. Returns the number of products rewritten.
int lowerThinProducts(Graph& g);

/// Row-wise work on an embedding lookup x = gather(T, ids) done per table row when T has fewer
/// rows than the batch looks up (user or genre tables at batch 1024): matmul(x, W) becomes
/// gather(T W, ids), f(x, c) becomes gather(f(T, c), ids) for an elementwise f and a c shared by
/// all rows (a bias), and matmul(sum(x, ids axis), W) becomes sum(gather(T W, ids), that axis).
/// Rewrites chain, so a whole tower over one id (ALS-MLP's user MLP) runs once per user, and
/// the backward pass follows: the gradient is scattered into the [rows, N] product and
/// multiplied back per row. Tables with sparse updates and renormalising lookups (max_norm) are
/// left alone. Costs are estimated at batch size `batch`, with a product over a table's rows
/// shared by `reuse` batches (a fraction for a partial last batch): 1 in a training step, whose
/// parameters change every step; more at inference, where such products depend on parameters
/// only and the JIT computes them once per parameter version (passes/Hoisting.h). Returns the
/// number of ops rewritten; lookups no longer read are left for dead-code elimination.
int sinkGathers(Graph& g, int64_t batch, double reuse = 1);

/// The multiplications per output column of matmul(v, W) as sinkGathers leaves it: v's
/// elements, or for a lookup it moves, the table's elements plus one per id.
int64_t lookupCost(const Graph& g, ValueId v, int64_t batch, double reuse = 1);

}  // namespace recc
