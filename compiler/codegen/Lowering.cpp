// loweringOf(): how every op of Ops.def is lowered by the code generator.
#include "compiler/codegen/Lowering.h"

namespace recc {

Lowering loweringOf(OpKind op) {
  switch (op) {
    // Values that live in caller memory (inputs, params) need no code.
    case OpKind::Input:
    case OpKind::Param:
      return Lowering::Leaf;
    // Scalar emitters: computed inside a loop nest, fused with their producers when allowed.
    case OpKind::Const:
    case OpKind::BatchSize:
    case OpKind::Add:
    case OpKind::Sub:
    case OpKind::Mul:
    case OpKind::Div:
    case OpKind::Neg:
    case OpKind::Exp:
    case OpKind::Log:
    case OpKind::Sqrt:
    case OpKind::Sigmoid:
    case OpKind::Tanh:
    case OpKind::Relu:
    case OpKind::Step:
    case OpKind::BceWithLogits:
    case OpKind::LeakyRelu:
    case OpKind::Prelu:
    case OpKind::MaskedFill:
    case OpKind::PadMask:
    case OpKind::Dropout:  // the mask is a hash of (seed, step, element index): fuses like the rest
    case OpKind::Transpose:
    case OpKind::OneHot:
    case OpKind::Sum:
    case OpKind::Mean:
    case OpKind::Max:
    case OpKind::SumTo:
    case OpKind::BroadcastTo:
    case OpKind::Reshape:  // an alias of its operand's buffer: the loop is empty
    case OpKind::Concat:
    case OpKind::Slice:
      return Lowering::FusedLoop;
    // Library-grade work and side effects: calls into runtime/kernels.
    case OpKind::MatMul:
    case OpKind::Gather:
    case OpKind::ScatterAdd:
    case OpKind::BatchMatMul:
    case OpKind::ShardSum:
    case OpKind::Softmax:
    case OpKind::LogSoftmax:
    case OpKind::LayerNorm:
    case OpKind::BatchMoments:
    case OpKind::CrossEntropy:
    case OpKind::PositionalEncoding:
    case OpKind::Conv1d:
    case OpKind::Unfold1d:
    case OpKind::Fold1d:
    case OpKind::Update:
    case OpKind::SparseUpdate:
      return Lowering::KernelCall;
  }
  return Lowering::None;
}

}  // namespace recc
