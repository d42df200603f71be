#include "compiler/ops/Composites.h"

namespace recc {

ValueId batchMoment(GraphBuilder& b, ValueId moments, int64_t k, size_t rank, const Loc& loc) {
  Shape row(rank, Dim(1));
  row.back() = b.graph().at(moments).shape.back();
  ValueId r = b.add(OpKind::Slice, {moments}, Attrs().set("axis", int64_t{0}).set("begin", k).set("end", k + 1), loc);
  return b.add(OpKind::Reshape, {r}, Attrs().set("shape", row), loc);
}

ValueId batchNorm(GraphBuilder& b, ValueId x, ValueId gamma, ValueId beta, ValueId runningMean,
                  ValueId runningVar, double eps, double momentum, const Loc& loc) {
  ValueId m = b.add(OpKind::BatchMoments, {x, runningMean, runningVar},
                    Attrs().set("eps", eps).set("momentum", momentum), loc);
  const size_t rank = b.graph().at(x).shape.size();
  ValueId centred = b.add(OpKind::Sub, {x, batchMoment(b, m, 0, rank, loc)}, {}, loc);
  ValueId y = b.add(OpKind::Mul, {centred, batchMoment(b, m, 1, rank, loc)}, {}, loc);
  if (gamma >= 0) y = b.add(OpKind::Mul, {y, gamma}, {}, loc);
  if (beta >= 0) y = b.add(OpKind::Add, {y, beta}, {}, loc);
  return y;
}

}  // namespace recc
