// Every op of Ops.def, JIT-compiled in a small graph and compared with the reference evaluator.
#include <functional>
#include <set>

#include "compiler/codegen/Lowering.h"
#include "compiler/ops/Composites.h"
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
  c.push_back({"max", [](TestGraph& t) -> std::vector<ValueId> {
    ValueId x = t.dense(6);
    ValueId x3 = t.op(OpKind::Reshape, {x}, shape({kB, 2, 3}));
    return {t.op(OpKind::Max, {x}, axis(0)), t.op(OpKind::Max, {x}, axis(1)), t.op(OpKind::Max, {x3}, axis(1, 1)),
            t.op(OpKind::Max, {t.op(OpKind::Neg, {x3})}, axis(2))};  // the neg fuses into the loop
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
    // lookups read inside their consumer's loop (fused), plain and summed over a sequence
    ValueId fused = t.op(OpKind::Tanh, {t.op(OpKind::Gather, {table, id}, Attrs().set("max_norm", 0.0))});
    ValueId pooled = t.op(OpKind::Sum, {t.op(OpKind::Gather, {table, seq}, Attrs().set("max_norm", 0.0))}, axis(1));
    return {g1, g2, t.op(OpKind::Sum, {g2}, axis(1)), head, g3, fused, pooled};
  }});
  c.push_back({"scatter_add", [](TestGraph& t) -> std::vector<ValueId> {
    ValueId seq = t.ids("item", 4, 3);  // few rows: repeated ids
    ValueId g = t.op(OpKind::Reshape, {t.dense(6)}, shape({kB, 3, 2}));
    return {t.op(OpKind::ScatterAdd, {seq, g}, shape({4, 2}))};
  }});
  // ---- sequence / attention / CNN ops ----
  c.push_back({"leaky_prelu", [](TestGraph& t) -> std::vector<ValueId> {
    ValueId x = t.dense(6);
    ValueId x3 = t.op(OpKind::Reshape, {t.dense(6)}, shape({kB, 2, 3}));
    return {t.op(OpKind::LeakyRelu, {x}, Attrs().set("alpha", 0.2)), t.op(OpKind::Prelu, {x, t.param({6})}),
            t.op(OpKind::Prelu, {x3, t.param({3})}), t.op(OpKind::Prelu, {x, t.param({})}),
            t.op(OpKind::Exp, {t.op(OpKind::LeakyRelu, {x})})};
  }});
  c.push_back({"pad_mask_masked_fill", [](TestGraph& t) -> std::vector<ValueId> {
    ValueId ids = t.ids("tok", 3, 4);  // about a third are the padding id 0
    ValueId mask = t.op(OpKind::PadMask, {ids});
    ValueId x = t.dense(4);
    ValueId x3 = t.op(OpKind::Reshape, {t.dense(12)}, shape({kB, 3, 4}));
    ValueId m3 = t.op(OpKind::Reshape, {mask}, shape({kB, 1, 4}));
    return {mask, t.op(OpKind::PadMask, {ids}, Attrs().set("pad", int64_t{2})),
            t.op(OpKind::MaskedFill, {x, mask}, Attrs().set("value", -1e9)),
            t.op(OpKind::MaskedFill, {t.op(OpKind::Tanh, {x3}), m3}, Attrs().set("value", 0.5))};
  }});
  c.push_back({"dropout", [](TestGraph& t) -> std::vector<ValueId> {
    ValueId x = t.dense(16);
    ValueId x3 = t.op(OpKind::Reshape, {x}, shape({kB, 4, 4}));
    ValueId d1 = t.op(OpKind::Dropout, {x}, Attrs().set("p", 0.4).set("seed", int64_t{3}));
    ValueId d2 = t.op(OpKind::Dropout, {t.op(OpKind::Exp, {x3})}, Attrs().set("p", 0.1).set("seed", int64_t{4}));
    ValueId d0 = t.op(OpKind::Dropout, {x}, Attrs().set("p", 0.0));
    return {d1, t.op(OpKind::Add, {d2, x3}), d0};  // d2 fused into the add
  }});
  c.push_back({"softmax", [](TestGraph& t) -> std::vector<ValueId> {
    ValueId x3 = t.op(OpKind::Reshape, {t.dense(12)}, shape({kB, 3, 4}));
    ValueId none = t.op(OpKind::PadMask, {t.ids("pad", 1, 4)});  // every id is 0: fully masked rows
    ValueId some = t.op(OpKind::PadMask, {t.ids("tok", 3, 4)});
    auto masked = [&](ValueId m) {
      ValueId m3 = t.op(OpKind::Reshape, {m}, shape({kB, 1, 4}));
      return t.op(OpKind::MaskedFill, {x3, m3}, Attrs().set("value", -1e9));
    };
    return {t.op(OpKind::Softmax, {x3}, axis(2)), t.op(OpKind::Softmax, {x3}, axis(1)),
            t.op(OpKind::Softmax, {t.op(OpKind::Mul, {x3, t.b.constant(40, {})})}, axis(0)),
            t.op(OpKind::LogSoftmax, {x3}, axis(2)), t.op(OpKind::LogSoftmax, {x3}, axis(1)),
            t.op(OpKind::Softmax, {masked(none)}, axis(2)), t.op(OpKind::Softmax, {masked(some)}, axis(2))};
  }});
  c.push_back({"transpose", [](TestGraph& t) -> std::vector<ValueId> {
    ValueId x3 = t.op(OpKind::Reshape, {t.dense(12)}, shape({kB, 3, 4}));
    auto tr = [&](ValueId v, Shape perm) { return t.op(OpKind::Transpose, {v}, Attrs().set("perm", std::move(perm))); };
    ValueId ids = t.ids("item", 9, 3);
    return {tr(x3, {0, 2, 1}), tr(x3, {2, 0, 1}), tr(t.op(OpKind::Exp, {x3}), {1, 2, 0}), tr(ids, {1, 0}),
            tr(t.param({2, 3}), {1, 0})};
  }});
  c.push_back({"one_hot", [](TestGraph& t) -> std::vector<ValueId> {
    ValueId ids = t.ids("item", 5, 3);
    ValueId oh = t.op(OpKind::OneHot, {ids}, Attrs().set("depth", Shape{5}));
    return {oh, t.op(OpKind::OneHot, {t.ids("cls", 4, 0)}, Attrs().set("depth", Shape{3})),  // id 3: zero row
            t.op(OpKind::Sum, {oh}, axis(1))};
  }});
  c.push_back({"batch_matmul", [](TestGraph& t) -> std::vector<ValueId> {
    ValueId a = t.op(OpKind::Reshape, {t.dense(6)}, shape({kB, 2, 3}));
    ValueId b = t.op(OpKind::Reshape, {t.dense(12)}, shape({kB, 3, 4}));
    ValueId bt = t.op(OpKind::Reshape, {t.dense(12)}, shape({kB, 4, 3}));
    auto bmm = [&](ValueId x, ValueId y, int64_t ta, int64_t tb) {
      return t.op(OpKind::BatchMatMul, {x, y}, Attrs().set("ta", ta).set("tb", tb));
    };
    ValueId a4 = t.op(OpKind::Reshape, {t.dense(12)}, shape({kB, 2, 2, 3}));
    return {bmm(a, b, 0, 0), bmm(a, bt, 0, 1), bmm(b, b, 1, 0), bmm(bt, b, 1, 1), bmm(a, t.param({3, 5}), 0, 0),
            bmm(t.param({5, 2}), a, 0, 0), bmm(a4, t.param({4, 3}), 0, 1)};
  }});
  c.push_back({"matmul_rank3", [](TestGraph& t) -> std::vector<ValueId> {
    ValueId x3 = t.op(OpKind::Reshape, {t.dense(6)}, shape({kB, 2, 3}));
    ValueId y3 = t.op(OpKind::Reshape, {t.dense(8)}, shape({kB, 2, 4}));
    auto mm = [&](ValueId a, ValueId b, int64_t ta, int64_t tb) {
      return t.op(OpKind::MatMul, {a, b}, Attrs().set("ta", ta).set("tb", tb));
    };
    return {mm(x3, t.param({3, 4}), 0, 0), mm(x3, t.param({5, 3}), 0, 1), mm(x3, y3, 1, 0)};
  }});
  // Outside shards (no shard in RunArgs) the identity; in shards, tests/codegen/shard_test.cpp.
  c.push_back({"shard_sum", [](TestGraph& t) -> std::vector<ValueId> {
    ValueId s = t.op(OpKind::Sum, {t.dense(3)}, Attrs().set("axis", int64_t{0}).set("keepdims", int64_t{0}));
    return {t.op(OpKind::ShardSum, {s})};
  }});
  c.push_back({"layer_norm", [](TestGraph& t) -> std::vector<ValueId> {
    ValueId x3 = t.op(OpKind::Reshape, {t.dense(12)}, shape({kB, 3, 4}));
    return {t.op(OpKind::LayerNorm, {x3, t.param({4}), t.param({4})}, Attrs().set("eps", 1e-5)),
            t.op(OpKind::LayerNorm, {t.dense(5), t.b.constant(1, {5}), t.b.constant(0, {5})})};
  }});
  c.push_back({"batch_moments", [](TestGraph& t) -> std::vector<ValueId> {
    ValueId x = t.dense(4);
    ValueId x3 = t.op(OpKind::Reshape, {t.dense(6)}, shape({kB, 2, 3}));
    ValueId m2 = t.op(OpKind::BatchMoments, {x, t.param({4}, "zeros"), t.param({4}, "ones")}, Attrs().set("momentum", 0.3));
    // batch_norm: the moments and the elementwise normalisation fused into the sigmoid's loop
    ValueId bn3 = batchNorm(t.b, x3, -1, -1, t.param({3}), t.param({3}), 1e-5, 0.1, {});
    return {m2, t.op(OpKind::Sigmoid, {bn3})};  // the running stats are compared as params
  }});
  c.push_back({"cross_entropy", [](TestGraph& t) -> std::vector<ValueId> {
    ValueId z3 = t.op(OpKind::Reshape, {t.dense(15)}, shape({kB, 3, 5}));
    ValueId big = t.op(OpKind::Mul, {t.dense(5), t.b.constant(60, {})});
    return {t.op(OpKind::CrossEntropy, {z3, t.ids("cls", 5, 3)}),
            t.op(OpKind::CrossEntropy, {big, t.ids("cls", 5, 0)}, Attrs().set("ignore_index", int64_t{-100}))};
  }});
  c.push_back({"positional_encoding", [](TestGraph& t) -> std::vector<ValueId> {
    ValueId pe = t.b.add(OpKind::PositionalEncoding, {}, Attrs().set("length", int64_t{7}).set("dim", int64_t{6}));
    ValueId x3 = t.op(OpKind::Reshape, {t.dense(42)}, shape({kB, 7, 6}));
    return {pe, t.op(OpKind::Add, {x3, pe})};
  }});
  c.push_back({"conv1d", [](TestGraph& t) -> std::vector<ValueId> {
    ValueId x = t.op(OpKind::Reshape, {t.dense(14)}, shape({kB, 7, 2}));
    auto conv = [&](int64_t k, int64_t stride, int64_t pad) {
      return t.op(OpKind::Conv1d, {x, t.param({k, 2, 3}), t.param({3})},
                  Attrs().set("stride", stride).set("padding", pad));
    };
    return {conv(3, 1, 1), conv(2, 2, 0), conv(7, 1, 0), conv(4, 3, 2)};
  }});
  c.push_back({"unfold_fold", [](TestGraph& t) -> std::vector<ValueId> {
    ValueId x = t.op(OpKind::Reshape, {t.dense(10)}, shape({kB, 5, 2}));
    Attrs w = Attrs().set("kernel", int64_t{3}).set("stride", int64_t{2}).set("padding", int64_t{1});
    ValueId cols = t.op(OpKind::Unfold1d, {x}, w);
    return {cols, t.op(OpKind::Fold1d, {cols}, Attrs(w).set("length", int64_t{5}))};
  }});
  c.push_back({"update", [](TestGraph& t) -> std::vector<ValueId> {
    ValueId w = t.param({3, 2});
    ValueId x = t.dense(3), y = t.dense(2);
    ValueId grad = t.op(OpKind::MatMul, {x, y}, Attrs().set("ta", int64_t{1}).set("tb", int64_t{0}));
    t.op(OpKind::Update, {w, grad}, Attrs().set("index", int64_t{0}));
    return {grad};
  }});
  c.push_back({"sparse_update", [](TestGraph& t) -> std::vector<ValueId> {
    // Two (ids, rows) parts with repeated ids within and across them.
    ValueId table = t.param({5, 3});
    ValueId one = t.ids("item", 5, 0), two = t.ids("item", 5, 2);
    ValueId g1 = t.op(OpKind::Reshape, {t.dense(3)}, shape({kB, 3}));
    ValueId g2 = t.op(OpKind::Reshape, {t.dense(6)}, shape({kB, 2, 3}));
    t.op(OpKind::SparseUpdate, {table, one, g1, two, g2}, Attrs().set("index", int64_t{0}));
    return {g1};
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
