// Finite-difference checks of every op's gradient rule, incl. broadcasting and symbolic B.
#include <functional>
#include <set>

#include "GradCheck.h"
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
