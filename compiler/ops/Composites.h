// Ops that are graphs of table ops, built in one place for the front end and the tests.
#pragma once
#include "compiler/ir/Graph.h"

namespace recc {

/// Training-mode batch norm of x [B,D] or [B,T,D]: m = batch_moments(x, running_mean,
/// running_var) (which updates the running statistics), then (x - m[0]) * m[1] * gamma + beta
/// with elementwise ops, gamma and beta [D] params or -1 (no affine). Being elementwise, the
/// normalisation fuses into whatever reads it (Dice's sigmoid and gates), and the backward pass
/// reuses the batch's moments instead of recomputing them.
ValueId batchNorm(GraphBuilder& b, ValueId x, ValueId gamma, ValueId beta, ValueId runningMean,
                  ValueId runningVar, double eps, double momentum, const Loc& loc);

/// Row k of batch_moments' [2,D] result (0: mean, 1: 1/sqrt(var + eps)) as [1,D] or [1,1,D] (x's
/// `rank`), to broadcast against x.
ValueId batchMoment(GraphBuilder& b, ValueId moments, int64_t k, size_t rank, const Loc& loc);

}  // namespace recc
