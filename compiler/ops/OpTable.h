// The op enum generated from Ops.def, its static info, and the shape rule entry point.
#pragma once
#include <string>
#include <vector>

namespace recc {

enum class OpKind {
#define OP(E, NAME, ARITY, KIND) E,
#include "compiler/ops/Ops.def"
#undef OP
};

enum class OpClass { Leaf, Elementwise, Reduce, Layout, Kernel, Update };

struct OpInfo {
  OpKind kind;
  const char* name;
  int arity;  // -1 = variadic
  OpClass cls;
};

const std::vector<OpInfo>& allOps();
const OpInfo& opInfo(OpKind k);
const char* opName(OpKind k);
int numOps();

}  // namespace recc
