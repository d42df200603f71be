// Shape rules: one per op (ShapeRules.cpp), used by GraphBuilder and by the verifier.
#pragma once
#include <string>
#include <vector>

#include "compiler/ir/Graph.h"

namespace recc {

struct ShapeResult {
  DType dtype = DType::F32;
  Shape shape;
  std::string error;  // non-empty: the rule failed; text without the op name prefix
};

ShapeResult inferShape(const Graph& g, OpKind op, const std::vector<ValueId>& inputs,
                       const Attrs& attrs);

/// numpy broadcasting of two shapes (right-aligned); false if incompatible.
bool broadcastShapes(const Shape& a, const Shape& b, Shape& out);

}  // namespace recc
