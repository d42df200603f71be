// Static op information from Ops.def.
#include "compiler/ops/OpTable.h"

namespace recc {

const std::vector<OpInfo>& allOps() {
  static const std::vector<OpInfo> ops = {
#define OP(E, NAME, ARITY, KIND) {OpKind::E, NAME, ARITY, OpClass::KIND},
#include "compiler/ops/Ops.def"
#undef OP
  };
  return ops;
}

const OpInfo& opInfo(OpKind k) { return allOps()[static_cast<size_t>(k)]; }
const char* opName(OpKind k) { return opInfo(k).name; }
int numOps() { return static_cast<int>(allOps().size()); }

}  // namespace recc
