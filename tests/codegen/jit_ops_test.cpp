// Every op of Ops.def, JIT-compiled in a small graph and compared with the reference evaluator.
#include <functional>
#include <set>

#include "compiler/codegen/Lowering.h"
#include "tests/codegen/JitHarness.h"

namespace recc::test {
namespace {

using Build = std::function<std::vector<ValueId>(TestGraph&)>;
struct OpCase {
  std::string name;
  Build build;  // returns the values to fetch
  friend void PrintTo(const OpCase& c, std::ostream* os) { *os << c.name; }
};

Attrs axis(int64_t a, int64_t keep = 0) { return Attrs().set("axis", a).set("keepdims", keep); }
Attrs shape(Shape s) { return Attrs().set("shape", std::move(s)); }

std::vector<OpCase> cases() {
  std::vector<OpCase> c;
  // Elementwise binaries with every broadcasting pattern.
  for (OpKind k : {OpKind::Add, OpKind::Sub, OpKind::Mul, OpKind::Div}) {
    c.push_back({std::string(opName(k)) + "_broadcast", [k](TestGraph& t) -> std::vector<ValueId> {
      ValueId x = t.dense(4), col = t.dense(0);
      ValueId row = t.param({4}, "uniform", 1.0);
      ValueId two = t.b.constant(2.5, {});
      ValueId den = t.op(OpKind::Add, {t.op(OpKind::Exp, {row}), two});  // positive divisor
      ValueId colk = t.op(OpKind::Reshape, {col}, shape({kB, 1}));
      return {t.op(k, {x, den}), t.op(k, {den, x}), t.op(k, {x, t.op(OpKind::Add, {colk, two})}),
              t.op(k, {t.op(OpKind::Exp, {colk}), t.op(OpKind::Exp, {den})})};
    }});
  }
  for (OpKind k : {OpKind::Neg, OpKind::Exp, OpKind::Sigmoid, OpKind::Tanh, OpKind::Relu, OpKind::Step}) {
    c.push_back({opName(k), [k](TestGraph& t) -> std::vector<ValueId> {
      ValueId x = t.dense(6);
      ValueId big = t.op(OpKind::Mul, {x, t.b.constant(20.0, {})});  // saturating range too
      return {t.op(k, {x}), t.op(k, {big})};
    }});
  }
  for (OpKind k : {OpKind::Log, OpKind::Sqrt}) {
    c.push_back({opName(k), [k](TestGraph& t) -> std::vector<ValueId> {
      ValueId x = t.dense(6);
      ValueId pos = t.op(OpKind::Add, {t.op(OpKind::Mul, {x, x}), t.b.constant(0.25, {})});
      return {t.op(k, {pos})};
    }});
  }
  c.push_back({"bce_with_logits", [](TestGraph& t) -> std::vector<ValueId> {
    ValueId z = t.dense(0), y = t.label();
    ValueId zBig = t.op(OpKind::Mul, {z, t.b.constant(30.0, {})});
    return {t.op(OpKind::BceWithLogits, {z, y}), t.op(OpKind::BceWithLogits, {zBig, y})};
  }});
  c.push_back({"sum_mean", [](TestGraph& t) -> std::vector<ValueId> {
    ValueId x = t.dense(6);
    ValueId x3 = t.op(OpKind::Reshape, {x}, shape({kB, 2, 3}));
    return {t.op(OpKind::Sum, {x}, axis(0)), t.op(OpKind::Sum, {x}, axis(1)),
            t.op(OpKind::Sum, {x3}, axis(1, 1)), t.op(OpKind::Mean, {x}, axis(0)),
            t.op(OpKind::Mean, {x3}, axis(2)), t.op(OpKind::Mean, {x}, axis(1, 1))};
  }});
  c.push_back({"sum_to", [](TestGraph& t) -> std::vector<ValueId> {
    ValueId x = t.dense(4);
    ValueId e = t.op(OpKind::Exp, {x});  // fused into the reduction loop
    return {t.op(OpKind::SumTo, {e}, shape({4})), t.op(OpKind::SumTo, {x}, shape({kB, 1})),
            t.op(OpKind::SumTo, {x}, shape({1, 4})), t.op(OpKind::SumTo, {x}, shape({}))};
  }});
  c.push_back({"broadcast_to", [](TestGraph& t) -> std::vector<ValueId> {
    ValueId col = t.op(OpKind::Reshape, {t.dense(0)}, shape({kB, 1}));
    ValueId row = t.param({3});
    ValueId rb = t.op(OpKind::BroadcastTo, {row}, shape({kB, 3}));
    ValueId cb = t.op(OpKind::BroadcastTo, {col}, shape({kB, 3}));
    return {rb, t.op(OpKind::Mul, {cb, t.op(OpKind::BroadcastTo, {row}, shape({kB, 3}))})};
  }});
  c.push_back({"reshape_concat_slice", [](TestGraph& t) -> std::vector<ValueId> {
    ValueId x = t.dense(6), y = t.dense(2);
    ValueId x3 = t.op(OpKind::Reshape, {x}, shape({kB, 3, 2}));
    ValueId flat = t.op(OpKind::Reshape, {x3}, shape({kB, 6}));
    ValueId cat = t.op(OpKind::Concat, {t.op(OpKind::Tanh, {y}), flat, y}, Attrs().set("axis", int64_t{1}));
    ValueId cat0 = t.op(OpKind::Concat, {t.param({2, 3}), t.param({1, 3})}, Attrs().set("axis", int64_t{0}));
    ValueId cat2 = t.op(OpKind::Concat, {x3, t.op(OpKind::Neg, {x3})}, Attrs().set("axis", int64_t{2}));
    ValueId sl = t.op(OpKind::Slice, {x3}, Attrs().set("axis", int64_t{1}).set("begin", int64_t{1}).set("end", int64_t{3}));
    ValueId sle = t.op(OpKind::Slice, {t.op(OpKind::Exp, {x})},
                       Attrs().set("axis", int64_t{1}).set("begin", int64_t{2}).set("end", int64_t{5}));
    return {x3, cat, cat0, cat2, sl, sle, t.op(OpKind::Add, {flat, x})};
  }});
  c.push_back({"const_batch_size", [](TestGraph& t) -> std::vector<ValueId> {
    ValueId x = t.dense(3);
    ValueId bs = t.b.add(OpKind::BatchSize, {});
    return {t.b.constant(1.5, {2, 3}), bs, t.op(OpKind::Mul, {x, bs}),
            t.op(OpKind::Div, {t.op(OpKind::Sum, {t.op(OpKind::Sum, {x}, axis(0))}, axis(0)), bs})};
  }});
  c.push_back({"matmul", [](TestGraph& t) -> std::vector<ValueId> {
    ValueId x = t.dense(3), y = t.dense(4);
    ValueId w = t.param({3, 4}), wt = t.param({4, 3});
    auto mm = [&](ValueId a, ValueId b, int64_t ta, int64_t tb) {
      return t.op(OpKind::MatMul, {a, b}, Attrs().set("ta", ta).set("tb", tb));
    };
    return {mm(x, w, 0, 0), mm(x, wt, 0, 1), mm(x, y, 1, 0), mm(w, x, 1, 1),
            mm(t.op(OpKind::Relu, {x}), w, 0, 0)};
  }});
  c.push_back({"gather", [](TestGraph& t) -> std::vector<ValueId> {
    ValueId table = t.param({10, 4});
    ValueId id = t.ids("item", 10, 0), seq = t.ids("item", 10, 3);
    ValueId g1 = t.op(OpKind::Gather, {table, id}, Attrs().set("max_norm", 0.0));
    ValueId g2 = t.op(OpKind::Gather, {table, seq}, Attrs().set("max_norm", 1.0));  // renormalises the table
    // integer ids through layout ops: sliced (copied as i32) and reshaped (aliased)
    ValueId head = t.op(OpKind::Slice, {seq}, Attrs().set("axis", int64_t{1}).set("begin", int64_t{1}).set("end", int64_t{3}));
    ValueId col = t.op(OpKind::Reshape, {head}, shape({kB, 2, 1}));
    ValueId g3 = t.op(OpKind::Gather, {table, col}, Attrs().set("max_norm", 0.0));
    return {g1, g2, t.op(OpKind::Sum, {g2}, axis(1)), head, g3};
  }});
  c.push_back({"scatter_add", [](TestGraph& t) -> std::vector<ValueId> {
    ValueId seq = t.ids("item", 4, 3);  // few rows: repeated ids
    ValueId g = t.op(OpKind::Reshape, {t.dense(6)}, shape({kB, 3, 2}));
    return {t.op(OpKind::ScatterAdd, {seq, g}, shape({4, 2}))};
  }});
  c.push_back({"update", [](TestGraph& t) -> std::vector<ValueId> {
    ValueId w = t.param({3, 2});
    ValueId x = t.dense(3), y = t.dense(2);
    ValueId grad = t.op(OpKind::MatMul, {x, y}, Attrs().set("ta", int64_t{1}).set("tb", int64_t{0}));
    t.op(OpKind::Update, {w, grad}, Attrs().set("index", int64_t{0}));
    return {grad};
  }});
  return c;
}

class JitOp : public ::testing::TestWithParam<OpCase> {};

TEST_P(JitOp, MatchesReferenceOnPartialBatch) {
  TestGraph t;
  std::vector<ValueId> fetches = GetParam().build(t);
  EXPECT_TRUE(matchesReference(t, fetches, 5, 7, 8, 2));  // two runs: arena reuse across calls
}

TEST_P(JitOp, MatchesReferenceOnFullAndTinyBatch) {
  TestGraph t;
  std::vector<ValueId> fetches = GetParam().build(t);
  EXPECT_TRUE(matchesReference(t, fetches, 8, 11, 8));
  EXPECT_TRUE(matchesReference(t, fetches, 1, 12, 8));
}

INSTANTIATE_TEST_SUITE_P(AllOps, JitOp, ::testing::ValuesIn(cases()),
                         [](const ::testing::TestParamInfo<OpCase>& i) { return i.param.name; });

TEST(JitOps, EveryOpIsLoweredAndCoveredByACase) {
  std::set<OpKind> covered;
  for (const OpCase& c : cases()) {
    TestGraph t;
    c.build(t);
    for (const Node& n : t.g.nodes) covered.insert(n.op);
  }
  for (const OpInfo& op : allOps()) {
    EXPECT_NE(loweringOf(op.kind), Lowering::None) << op.name;
    EXPECT_TRUE(covered.count(op.kind)) << op.name << " has no JIT test case";
  }
}

}  // namespace
}  // namespace recc::test
