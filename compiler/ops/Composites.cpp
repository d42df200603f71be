#include "compiler/ops/Composites.h"

namespace recc {

ValueId batchNorm(GraphBuilder& b, ValueId x, ValueId gamma, ValueId beta, ValueId runningMean,
                  ValueId runningVar, double eps, double momentum, const Loc& loc) {
  ValueId m = b.add(OpKind::BatchMoments, {x, runningMean, runningVar},
                    Attrs().set("eps", eps).set("momentum", momentum), loc);
  // Row k of the moments as [1,D] or [1,1,D], broadcasting against x.
  Shape row(b.graph().at(x).shape.size(), Dim(1));
  row.back() = b.graph().at(x).shape.back();
  auto moment = [&](int64_t k) {
    ValueId r = b.add(OpKind::Slice, {m}, Attrs().set("axis", int64_t{0}).set("begin", k).set("end", k + 1), loc);
    return b.add(OpKind::Reshape, {r}, Attrs().set("shape", row), loc);
  };
  ValueId y = b.add(OpKind::Mul, {b.add(OpKind::Sub, {x, moment(0)}, {}, loc), moment(1)}, {}, loc);
  if (gamma >= 0) y = b.add(OpKind::Mul, {y, gamma}, {}, loc);
  if (beta >= 0) y = b.add(OpKind::Add, {y, beta}, {}, loc);
  return y;
}

}  // namespace recc
