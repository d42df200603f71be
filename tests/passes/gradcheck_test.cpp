// Finite-difference checks of every op's gradient rule, incl. broadcasting and symbolic B.
#include <functional>
#include <set>

#include "GradCheck.h"
#include "compiler/ops/Composites.h"
#include "compiler/ops/Gradients.h"

using namespace recc;
using recc::testing::GradCheck;

namespace {

using Build = std::function<ValueId(GradCheck&)>;
struct Case {
  const char* name;
  Build build;
};

Attrs ax(int64_t axis, int64_t keep = 0) { return Attrs().set("axis", axis).set("keepdims", keep); }
Attrs shp(Shape s) { return Attrs().set("shape", std::move(s)); }
Attrs sl(int64_t axis, int64_t b, int64_t e) { return Attrs().set("axis", axis).set("begin", b).set("end", e); }
Attrs mm(int64_t ta, int64_t tb) { return Attrs().set("ta", ta).set("tb", tb); }

ValueId bin(GradCheck& c, OpKind op, ValueId a, ValueId b) { return c.b.add(op, {a, b}); }
ValueId un(GradCheck& c, OpKind op, ValueId a, Attrs at = {}) { return c.b.add(op, {a}, std::move(at)); }

/// x * p + noise for batch norm: c.batched() alone scales each column by one parameter, and a
/// batch norm output does not depend on that scale, so its gradient would be zero and test nothing.
ValueId bnInput(GradCheck& c, Shape rest) {
  int64_t n = numElements(rest, 0);
  ValueId x = bin(c, OpKind::Add, c.batched({n}, 0.5f, 1.5f, true), c.dense(n, -1, 1));
  Shape full = {kB};
  full.insert(full.end(), rest.begin(), rest.end());
  return rest.size() > 1 ? un(c, OpKind::Reshape, x, shp(full)) : x;
}

/// [n, 1] or [n] constants 1, 3, 0, 2, 5, ... (a permutation-like order), as a concat of consts.
ValueId offsets(GradCheck& c, int64_t n, int64_t rank) {
  std::vector<ValueId> parts;
  for (int64_t i = 0; i < n; ++i)
    parts.push_back(c.b.constant(static_cast<double>((i * 3 + 1) % n), rank == 2 ? Shape{1, 1} : Shape{1}));
  return c.b.add(OpKind::Concat, parts, Attrs().set("axis", int64_t{0}));
}

const std::vector<Case>& cases() {
  using O = OpKind;
  static const std::vector<Case> all = {
      {"param", [](GradCheck& c) { return c.param({2, 3}); }},
      {"add_same", [](GradCheck& c) { return bin(c, O::Add, c.param({3, 4}), c.param({3, 4})); }},
      {"add_bcast", [](GradCheck& c) { return bin(c, O::Add, c.param({3, 1}), c.param({1, 4})); }},
      {"add_scalar_B", [](GradCheck& c) { return bin(c, O::Add, c.batched({4}), c.param({})); }},
      {"sub_bcast", [](GradCheck& c) { return bin(c, O::Sub, c.param({2, 3}), c.param({3})); }},
      {"sub_B", [](GradCheck& c) { return bin(c, O::Sub, c.param({4}), c.batched({4})); }},
      {"mul_bcast", [](GradCheck& c) { return bin(c, O::Mul, c.param({3, 1}), c.param({3, 4})); }},
      {"mul_B", [](GradCheck& c) { return bin(c, O::Mul, c.batched({2, 3}), c.param({2, 1})); }},
      {"mul_fanout", [](GradCheck& c) { ValueId x = c.param({3}); return bin(c, O::Mul, x, x); }},
      {"div", [](GradCheck& c) { return bin(c, O::Div, c.param({3, 4}), c.param({4}, 0.5f, 1.5f)); }},
      {"div_B", [](GradCheck& c) { return bin(c, O::Div, c.param({3}), c.batched({3}, 0.5f, 1.5f)); }},
      {"neg", [](GradCheck& c) { return un(c, O::Neg, c.batched({3})); }},
      {"exp", [](GradCheck& c) { return un(c, O::Exp, c.param({2, 3})); }},
      {"log", [](GradCheck& c) { return un(c, O::Log, c.batched({3}, 0.5f, 1.5f)); }},
      {"sqrt", [](GradCheck& c) { return un(c, O::Sqrt, c.param({2, 3}, 0.5f, 1.5f)); }},
      {"sigmoid", [](GradCheck& c) { return un(c, O::Sigmoid, c.batched({2, 2}, -2, 2)); }},
      {"tanh", [](GradCheck& c) { return un(c, O::Tanh, c.param({5})); }},
      {"relu", [](GradCheck& c) { return un(c, O::Relu, c.batched({4}, 0.2f, 1.0f, true)); }},
      {"step", [](GradCheck& c) { return un(c, O::Step, c.param({4}, 0.2f, 1.0f, true)); }},
      {"bce", [](GradCheck& c) { return bin(c, O::BceWithLogits, c.param({3, 4}, -2, 2), c.param({3, 4}, 0, 1)); }},
      {"bce_B_label", [](GradCheck& c) { return bin(c, O::BceWithLogits, c.batched({4}, -2, 2), c.dense(4, 0, 1)); }},
      {"bce_bcast", [](GradCheck& c) { return bin(c, O::BceWithLogits, c.batched({4}, -2, 2), c.param({4}, 0, 1)); }},
      {"sum_axis1", [](GradCheck& c) { return un(c, O::Sum, c.param({3, 4}), ax(1)); }},
      {"sum_axis0_keep", [](GradCheck& c) { return un(c, O::Sum, c.param({3, 4}), ax(0, 1)); }},
      {"sum_B", [](GradCheck& c) { return un(c, O::Sum, c.batched({4}), ax(0)); }},
      {"sum_mid_B", [](GradCheck& c) { return un(c, O::Sum, c.batched({3, 2}), ax(1)); }},
      {"sum_last_keep_B", [](GradCheck& c) { return un(c, O::Sum, c.batched({3, 2}), ax(2, 1)); }},
      {"mean_axis1", [](GradCheck& c) { return un(c, O::Mean, c.param({3, 4}), ax(1)); }},
      {"mean_B", [](GradCheck& c) { return un(c, O::Mean, c.batched({4}), ax(0)); }},
      {"mean_B_keep", [](GradCheck& c) { return un(c, O::Mean, c.batched({2, 2}), ax(0, 1)); }},
      {"mean_mid_B", [](GradCheck& c) { return un(c, O::Mean, c.batched({3, 2}), ax(1)); }},
      // max: values kept apart (offsets 1 apart, perturbations < 0.4) so that the finite
      // differences never cross a tie, where max has a kink.
      {"max_axis1", [](GradCheck& c) { return un(c, O::Max, bin(c, O::Add, c.param({3, 4}, -0.2f, 0.2f), offsets(c, 4, 1)), ax(1)); }},
      {"max_over_time_B", [](GradCheck& c) {
         ValueId x = bin(c, O::Add, c.batched({4, 2}, -0.2f, 0.2f), offsets(c, 4, 2));
         return un(c, O::Max, x, ax(1));
       }},
      {"max_B_keep", [](GradCheck& c) {  // x[b,j] = d[b,j] p[j], p > 0: the argmax over b never moves
         return un(c, O::Max, c.batched({3}, 0.5f, 1.5f), ax(0, 1));
       }},
      {"sum_to_row", [](GradCheck& c) { return un(c, O::SumTo, c.param({3, 4}), shp({4})); }},
      {"sum_to_col", [](GradCheck& c) { return un(c, O::SumTo, c.param({3, 4}), shp({3, 1})); }},
      {"sum_to_B", [](GradCheck& c) { return un(c, O::SumTo, c.batched({4}), shp({1, 4})); }},
      {"sum_to_scalar_B", [](GradCheck& c) { return un(c, O::SumTo, c.batched({2}), shp({})); }},
      {"broadcast_to", [](GradCheck& c) { return un(c, O::BroadcastTo, c.param({4}), shp({3, 4})); }},
      {"broadcast_to_rank", [](GradCheck& c) { return un(c, O::BroadcastTo, c.param({3, 1}), shp({2, 3, 4})); }},
      {"broadcast_to_B", [](GradCheck& c) { return un(c, O::BroadcastTo, c.param({4}), shp({kB, 4})); }},
      {"reshape", [](GradCheck& c) { return un(c, O::Reshape, c.param({3, 4}), shp({2, 6})); }},
      {"reshape_B", [](GradCheck& c) { return un(c, O::Reshape, c.batched({6}), shp({kB, 2, 3})); }},
      {"concat_axis1", [](GradCheck& c) { return c.b.add(O::Concat, {c.param({2, 3}), c.param({2, 2})}, ax(1)); }},
      {"concat_B", [](GradCheck& c) { return c.b.add(O::Concat, {c.batched({2}), c.batched({3})}, ax(1)); }},
      {"concat_axis0_three", [](GradCheck& c) {
         return c.b.add(O::Concat, {c.param({1, 2}), c.param({2, 2}), c.param({3, 2})}, ax(0));
       }},
      {"concat_same_twice", [](GradCheck& c) { ValueId x = c.param({2}); return c.b.add(O::Concat, {x, x}, ax(0)); }},
      {"slice_mid", [](GradCheck& c) { return un(c, O::Slice, c.param({3, 5}), sl(1, 1, 4)); }},
      {"slice_head", [](GradCheck& c) { return un(c, O::Slice, c.param({3, 5}), sl(0, 0, 2)); }},
      {"slice_tail_B", [](GradCheck& c) { return un(c, O::Slice, c.batched({5}), sl(1, 2, 5)); }},
      {"slice_head_B", [](GradCheck& c) { return un(c, O::Slice, c.batched({2, 3}), sl(2, 0, 2)); }},
      {"matmul_nn", [](GradCheck& c) { return c.b.add(O::MatMul, {c.param({2, 3}), c.param({3, 4})}, mm(0, 0)); }},
      {"matmul_tn", [](GradCheck& c) { return c.b.add(O::MatMul, {c.param({3, 2}), c.param({3, 4})}, mm(1, 0)); }},
      {"matmul_nt", [](GradCheck& c) { return c.b.add(O::MatMul, {c.param({2, 3}), c.param({4, 3})}, mm(0, 1)); }},
      {"matmul_tt", [](GradCheck& c) { return c.b.add(O::MatMul, {c.param({3, 2}), c.param({4, 3})}, mm(1, 1)); }},
      {"matmul_B", [](GradCheck& c) { return c.b.add(O::MatMul, {c.batched({3}), c.param({3, 4})}, mm(0, 0)); }},
      {"matmul_contract_B", [](GradCheck& c) {
         return c.b.add(O::MatMul, {c.batched({3}), c.batched({2})}, mm(1, 0));
       }},
      {"gather", [](GradCheck& c) {
         return c.b.add(O::Gather, {c.param({5, 3}), c.ids(0, 5, {1, 3, 1})}, Attrs().set("max_norm", 0.0));
       }},
      {"gather_seq", [](GradCheck& c) { return c.b.add(O::Gather, {c.param({4, 2}), c.ids(2, 4)}, Attrs()); }},
      {"gather_sliced_ids", [](GradCheck& c) {
         ValueId ids = un(c, O::Slice, c.ids(3, 4), sl(1, 1, 3));
         ids = un(c, O::Reshape, ids, shp({kB, 2, 1}));
         return c.b.add(O::Gather, {c.param({4, 2}), ids}, Attrs());
       }},
      {"scatter_add", [](GradCheck& c) {
         return c.b.add(O::ScatterAdd, {c.ids(0, 4, {2, 0, 2}), c.batched({3})}, shp({4, 3}));
       }},
      {"scatter_add_seq", [](GradCheck& c) {
         ValueId g = un(c, O::Reshape, c.batched({4}), shp({kB, 2, 2}));
         return c.b.add(O::ScatterAdd, {c.ids(2, 3), g}, shp({3, 2}));
       }},
      // ---- sequence / attention / CNN ops ----
      {"leaky_relu", [](GradCheck& c) {
         return un(c, O::LeakyRelu, c.batched({4}, 0.2f, 1.0f, true), Attrs().set("alpha", 0.1));
       }},
      {"prelu_B", [](GradCheck& c) { return bin(c, O::Prelu, c.batched({2, 3}, 0.2f, 1.0f, true), c.param({3})); }},
      {"prelu_scalar", [](GradCheck& c) { return bin(c, O::Prelu, c.param({2, 3}, 0.2f, 1.0f, true), c.param({})); }},
      {"masked_fill_pad_mask", [](GradCheck& c) {
         ValueId mask = un(c, O::PadMask, c.ids(3, 3, {0, 1, 2, 2, 0, 1, 1, 1, 0}));
         mask = un(c, O::Reshape, mask, shp({kB, 1, 3}));
         return c.b.add(O::MaskedFill, {c.batched({2, 3}), mask}, Attrs().set("value", -5.0));
       }},
      {"dropout", [](GradCheck& c) {
         return un(c, O::Dropout, c.batched({8}), Attrs().set("p", 0.3).set("seed", int64_t{5}));
       }},
      {"dropout_param", [](GradCheck& c) { return un(c, O::Dropout, c.param({3, 4}), Attrs().set("p", 0.5)); }},
      {"softmax_last", [](GradCheck& c) { return un(c, O::Softmax, c.batched({4}, -2, 2), ax(1)); }},
      {"softmax_mid", [](GradCheck& c) { return un(c, O::Softmax, c.batched({3, 2}, -2, 2), ax(1)); }},
      {"softmax_masked", [](GradCheck& c) {
         ValueId mask = un(c, O::PadMask, c.ids(4, 3, {1, 0, 2, 0, 0, 0, 0, 0, 2, 2, 1, 0}));
         ValueId x = c.b.add(O::MaskedFill, {c.batched({4}, -2, 2), mask}, Attrs().set("value", -1e9));
         return un(c, O::Softmax, x, ax(1));
       }},
      {"log_softmax", [](GradCheck& c) { return un(c, O::LogSoftmax, c.batched({2, 3}, -2, 2), ax(2)); }},
      {"log_softmax_axis0", [](GradCheck& c) { return un(c, O::LogSoftmax, c.param({3, 2}, -2, 2), ax(0)); }},
      {"transpose_last_two", [](GradCheck& c) {
         return un(c, O::Transpose, c.batched({2, 3}), Attrs().set("perm", Shape{0, 2, 1}));
       }},
      {"transpose_moves_B", [](GradCheck& c) {  // [B,3] -> [3,B] -> exp -> [B,3]
         ValueId t = un(c, O::Exp, un(c, O::Transpose, c.batched({3}), Attrs().set("perm", Shape{1, 0})));
         return un(c, O::Transpose, t, Attrs().set("perm", Shape{1, 0}));
       }},
      {"one_hot", [](GradCheck& c) {
         ValueId oh = un(c, O::OneHot, c.ids(2, 4), Attrs().set("depth", Shape{4}));
         return bin(c, O::Mul, oh, c.batched({2, 4}));
       }},
      {"batch_matmul_nn", [](GradCheck& c) {
         return c.b.add(O::BatchMatMul, {c.batched({2, 3}), c.batched({3, 4})}, mm(0, 0));
       }},
      {"batch_matmul_tn", [](GradCheck& c) {
         return c.b.add(O::BatchMatMul, {c.batched({3, 2}), c.batched({3, 4})}, mm(1, 0));
       }},
      {"batch_matmul_nt", [](GradCheck& c) {  // attention scores q k^T
         return c.b.add(O::BatchMatMul, {c.batched({2, 3}), c.batched({4, 3})}, mm(0, 1));
       }},
      {"batch_matmul_tt", [](GradCheck& c) {
         return c.b.add(O::BatchMatMul, {c.batched({3, 2}), c.batched({4, 3})}, mm(1, 1));
       }},
      {"batch_matmul_bcast_b", [](GradCheck& c) {
         return c.b.add(O::BatchMatMul, {c.batched({2, 3}), c.param({3, 4})}, mm(0, 0));
       }},
      {"batch_matmul_bcast_b_t", [](GradCheck& c) {
         return c.b.add(O::BatchMatMul, {c.batched({2, 3}), c.param({4, 3})}, mm(0, 1));
       }},
      {"batch_matmul_bcast_b_ta", [](GradCheck& c) {
         return c.b.add(O::BatchMatMul, {c.batched({3, 2}), c.param({3, 4})}, mm(1, 0));
       }},
      {"batch_matmul_bcast_a", [](GradCheck& c) {
         return c.b.add(O::BatchMatMul, {c.param({2, 3}), c.batched({4, 3})}, mm(0, 1));
       }},
      {"batch_matmul_rank4", [](GradCheck& c) {
         ValueId a = un(c, O::Reshape, c.batched({12}), shp({kB, 2, 2, 3}));
         return c.b.add(O::BatchMatMul, {a, c.param({3, 2})}, mm(0, 0));
       }},
      {"matmul_rank3", [](GradCheck& c) { return c.b.add(O::MatMul, {c.batched({2, 3}), c.param({3, 4})}, mm(0, 0)); }},
      {"matmul_rank3_tb", [](GradCheck& c) { return c.b.add(O::MatMul, {c.batched({2, 3}), c.param({4, 3})}, mm(0, 1)); }},
      {"matmul_rank3_contract", [](GradCheck& c) {
         return c.b.add(O::MatMul, {c.batched({2, 3}), c.batched({2, 4})}, mm(1, 0));
       }},
      {"shard_sum", [](GradCheck& c) {  // one shard: the identity
         return un(c, O::ShardSum, c.batched({3}));
       }},
      {"layer_norm", [](GradCheck& c) {
         return c.b.add(O::LayerNorm, {c.batched({2, 4}), c.param({4}), c.param({4})}, Attrs().set("eps", 1e-5));
       }},
      {"layer_norm_no_affine", [](GradCheck& c) {
         return c.b.add(O::LayerNorm, {c.param({3, 5}), c.b.constant(1, {5}), c.b.constant(0, {5})}, Attrs());
       }},
      {"batch_moments", [](GradCheck& c) {
         return c.b.add(O::BatchMoments, {bnInput(c, {4}), c.param({4}), c.param({4}, 0.5f, 1.5f)},
                        Attrs().set("eps", 1e-5).set("momentum", 0.1));
       }},
      {"batch_moments_seq", [](GradCheck& c) {
         return c.b.add(O::BatchMoments, {bnInput(c, {2, 3}), c.param({3}), c.param({3}, 0.5f, 1.5f)}, Attrs());
       }},
      {"batch_norm", [](GradCheck& c) {  // the composite: moments, then elementwise
         return batchNorm(c.b, bnInput(c, {4}), c.param({4}), c.param({4}), c.param({4}), c.param({4}, 0.5f, 1.5f), 1e-5,
                          0.1, {});
       }},
      {"batch_norm_seq", [](GradCheck& c) {
         return batchNorm(c.b, bnInput(c, {2, 3}), c.param({3}), c.param({3}), c.param({3}), c.param({3}, 0.5f, 1.5f),
                          1e-5, 0.1, {});
       }},
      {"batch_norm_no_affine", [](GradCheck& c) {  // Dice: sigmoid(batch_norm(x)) without gamma/beta
         return un(c, O::Sigmoid, batchNorm(c.b, bnInput(c, {3}), -1, -1, c.param({3}), c.param({3}, 0.5f, 1.5f), 1e-5, 0.1, {}));
       }},
      {"cross_entropy", [](GradCheck& c) {
         return c.b.add(O::CrossEntropy, {c.batched({4}, -2, 2), c.ids(0, 4, {2, 0, 3})}, Attrs().set("ignore_index", int64_t{-1}));
       }},
      {"cross_entropy_seq_ignore", [](GradCheck& c) {
         ValueId t = c.ids(3, 5, {1, 0, 4, 0, 0, 2, 3, 3, 0});
         return c.b.add(O::CrossEntropy, {c.batched({3, 5}, -2, 2), t}, Attrs());
       }},
      {"positional_encoding", [](GradCheck& c) {
         ValueId pe = c.b.add(O::PositionalEncoding, {}, Attrs().set("length", int64_t{3}).set("dim", int64_t{4}));
         return bin(c, O::Add, c.batched({3, 4}), pe);
       }},
      {"conv1d_same", [](GradCheck& c) {
         return c.b.add(O::Conv1d, {c.batched({5, 2}), c.param({3, 2, 3}), c.param({3})}, Attrs().set("padding", int64_t{1}));
       }},
      {"conv1d_stride", [](GradCheck& c) {
         return c.b.add(O::Conv1d, {c.batched({6, 2}), c.param({2, 2, 2}), c.param({2})}, Attrs().set("stride", int64_t{2}));
       }},
      {"unfold1d", [](GradCheck& c) {
         Attrs a = Attrs().set("kernel", int64_t{2}).set("stride", int64_t{2}).set("padding", int64_t{1});
         return un(c, O::Unfold1d, c.batched({5, 2}), a);
       }},
      {"fold1d", [](GradCheck& c) {
         Attrs a = Attrs().set("kernel", int64_t{2}).set("stride", int64_t{1}).set("padding", int64_t{1}).set("length", int64_t{4});
         return un(c, O::Fold1d, c.batched({5, 4}), a);
       }},
      {"attention", [](GradCheck& c) {  // softmax(mask(q k^T / sqrt(d))) v, then layer norm of v + out
         ValueId q = c.batched({3, 4}), k = c.batched({3, 4}), v = c.batched({3, 4});
         ValueId s = c.b.add(O::BatchMatMul, {q, k}, mm(0, 1));
         s = bin(c, O::Mul, s, c.b.constant(0.5, {}));
         ValueId mask = un(c, O::Reshape, un(c, O::PadMask, c.ids(3, 3, {1, 1, 0, 2, 0, 0, 1, 2, 2})), shp({kB, 1, 3}));
         s = c.b.add(O::MaskedFill, {s, mask}, Attrs().set("value", -1e9));
         ValueId o = c.b.add(O::BatchMatMul, {un(c, O::Softmax, s, ax(2)), v}, mm(0, 0));
         return c.b.add(O::LayerNorm, {bin(c, O::Add, o, v), c.param({4}), c.param({4})}, Attrs());
       }},
      {"chain", [](GradCheck& c) {  // an MLP-like chain: several rules composed, with fan-out
         ValueId h = c.b.add(O::MatMul, {c.batched({3}), c.param({3, 4})}, mm(0, 0));
         h = un(c, O::Tanh, bin(c, O::Add, h, c.param({4})));
         return bin(c, O::Mul, un(c, O::Sigmoid, h), h);
       }},
  };
  return all;
}

class GradCheckTest : public ::testing::TestWithParam<size_t> {};

TEST_P(GradCheckTest, MatchesFiniteDifferences) {
  GradCheck c(static_cast<uint32_t>(GetParam()) + 11);
  ValueId y = cases()[GetParam()].build(c);
  c.check(y);
}

INSTANTIATE_TEST_SUITE_P(Ops, GradCheckTest, ::testing::Range(size_t{0}, cases().size()),
                         [](const ::testing::TestParamInfo<size_t>& i) { return std::string(cases()[i.param].name); });

}  // namespace

// Every op of Ops.def has a gradient rule and a reference rule, and every op that computes
// something (not a leaf, not an update) is exercised by at least one finite-difference case.
TEST(GradCheckCoverage, EveryOpHasRulesAndACase) {
  std::set<OpKind> covered;
  for (const Case& k : cases()) {
    GradCheck c;
    k.build(c);
    for (const Node& n : c.g.nodes) covered.insert(n.op);
  }
  for (const OpInfo& op : allOps()) {
    EXPECT_TRUE(hasGradientRule(op.kind)) << op.name;
    EXPECT_TRUE(hasReferenceRule(op.kind)) << op.name;
    if (op.cls != OpClass::Leaf && op.cls != OpClass::Update) {
      EXPECT_TRUE(covered.count(op.kind)) << op.name << " has no finite-difference case";
    }
  }
}

TEST(GradCheckCoverage, StepAndIdsGetNoGradient) {
  GradCheck c;
  ValueId x = c.param({3});
  ValueId s = c.b.add(OpKind::Step, {x});
  EXPECT_EQ(gradient(c.b, s, c.b.constant(1, {3})), std::vector<ValueId>{-1});
  ValueId t = c.param({4, 2});
  ValueId gth = c.b.add(OpKind::Gather, {t, c.ids(0, 4)});
  std::vector<ValueId> gr = gradient(c.b, gth, c.b.constant(1, {kB, 2}));
  ASSERT_EQ(gr.size(), 2u);
  EXPECT_EQ(c.g.at(gr[0]).op, OpKind::ScatterAdd);
  EXPECT_EQ(gr[1], -1);
}
