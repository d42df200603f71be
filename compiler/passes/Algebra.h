// Algebraic rewrites of the forward graph that cut work without changing what it computes.
#pragma once
#include "compiler/ir/Graph.h"

namespace recc {

/// matmul(concat([p_1, ..., p_k], last axis), W) = sum_k matmul(p_k, W_k) with W_k the rows of
/// W that meet p_k. When the parts are sums and differences of fewer distinct tensors (atoms),
/// each atom is multiplied once by the signed sum of its row blocks, and an atom that is a
/// broadcast (a per-row vector repeated over a sequence) is multiplied before it is broadcast:
/// DIN's attention input [h, t, h - t, h * t] becomes h (W_1 + W_3) + t (W_2 - W_3) + (h*t) W_4,
/// with t W done once per row instead of once per position. Applied only where it saves
/// multiplications; outputs, losses, named values and gradients are renumbered. Returns the
/// number of products rewritten.
int factorConcatMatmuls(Graph& g);

}  // namespace recc
