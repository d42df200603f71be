// Reference evaluator semantics per op on hand-computed values.
#include <gtest/gtest.h>

#include <cmath>

#include "runtime/kernels/DropoutHash.h"
#include "runtime/reference/Evaluator.h"

using namespace recc;

namespace {

struct Fx {
  Graph g;
  GraphBuilder b{g};
  ParamState s;
  std::vector<Tensor> in;
  int64_t batch = 1;

  ValueId param(Shape shape, std::vector<float> v) {
    g.params.push_back({"p" + std::to_string(g.params.size()), shape, "zeros", 0, false, {}});
    s.values.push_back(std::move(v));
    return b.add(OpKind::Param, {}, Attrs().set("index", int64_t(g.params.size() - 1)));
  }
  ValueId dense(int64_t len, std::vector<float> v) {
    g.inputs.push_back({"d" + std::to_string(g.inputs.size()), "", "", InputKind::Dense, len, {}});
    Tensor t = Tensor::zerosF32(len ? std::vector<int64_t>{batch, len} : std::vector<int64_t>{batch});
    t.f = std::move(v);
    in.push_back(t);
    return b.add(OpKind::Input, {}, Attrs().set("index", int64_t(g.inputs.size() - 1)));
  }
  ValueId ids(int64_t len, std::vector<int32_t> v) {
    g.inputs.push_back({"i" + std::to_string(g.inputs.size()), "", "v", len ? InputKind::Ids : InputKind::Id, len, {}});
    in.push_back(Tensor::ids(len ? std::vector<int64_t>{batch, len} : std::vector<int64_t>{batch}, std::move(v)));
    return b.add(OpKind::Input, {}, Attrs().set("index", int64_t(g.inputs.size() - 1)));
  }
  ValueId op(OpKind k, std::vector<ValueId> ins, Attrs a = {}) { return b.add(k, std::move(ins), std::move(a)); }
  Tensor run(ValueId v) { return evaluate(g, batch, in, s)[static_cast<size_t>(v)]; }
};

void expectValues(const Tensor& t, std::vector<int64_t> shape, std::vector<float> want) {
  EXPECT_EQ(t.shape, shape);
  ASSERT_EQ(t.f.size(), want.size());
  for (size_t i = 0; i < want.size(); ++i) EXPECT_NEAR(t.f[i], want[i], 1e-5) << "element " << i;
}

Attrs ax(int64_t a, int64_t keep = 0) { return Attrs().set("axis", a).set("keepdims", keep); }

}  // namespace

TEST(Evaluator, BroadcastingArithmetic) {
  Fx f;
  ValueId a = f.param({2, 1}, {1, 2}), c = f.param({3}, {10, 20, 30});
  expectValues(f.run(f.op(OpKind::Add, {a, c})), {2, 3}, {11, 21, 31, 12, 22, 32});
  expectValues(f.run(f.op(OpKind::Sub, {c, a})), {2, 3}, {9, 19, 29, 8, 18, 28});
  expectValues(f.run(f.op(OpKind::Div, {c, a})), {2, 3}, {10, 20, 30, 5, 10, 15});
  ValueId s = f.param({}, {-3});
  expectValues(f.run(f.op(OpKind::Mul, {s, a})), {2, 1}, {-3, -6});
}

TEST(Evaluator, UnaryOps) {
  Fx f;
  ValueId x = f.param({3}, {-1, 0, 4});
  expectValues(f.run(f.op(OpKind::Relu, {x})), {3}, {0, 0, 4});
  expectValues(f.run(f.op(OpKind::Step, {x})), {3}, {0, 0, 1});  // step(0) = 0
  expectValues(f.run(f.op(OpKind::Neg, {x})), {3}, {1, 0, -4});
  expectValues(f.run(f.op(OpKind::Sigmoid, {x})), {3}, {0.2689414f, 0.5f, 0.9820138f});
  expectValues(f.run(f.op(OpKind::Tanh, {x})), {3}, {-0.7615942f, 0, 0.9993293f});
  expectValues(f.run(f.op(OpKind::Exp, {x})), {3}, {0.3678794f, 1, 54.59815f});
  ValueId p = f.param({2}, {4, 0.25f});
  expectValues(f.run(f.op(OpKind::Sqrt, {p})), {2}, {2, 0.5f});
  expectValues(f.run(f.op(OpKind::Log, {p})), {2}, {1.3862944f, -1.3862944f});
}

TEST(Evaluator, BceWithLogitsIsStable) {
  Fx f;
  ValueId z = f.param({4}, {0, 2, -3, 100}), y = f.param({4}, {1, 0, 1, 0});
  // log 2; 2 + log1p(e^-2); 3 + log1p(e^-3); 100 (no overflow for large logits)
  expectValues(f.run(f.op(OpKind::BceWithLogits, {z, y})), {4}, {0.6931472f, 2.1269280f, 3.0485874f, 100});
}

TEST(Evaluator, ReductionsOverTheBatch) {
  Fx f;
  f.batch = 3;
  ValueId x = f.dense(2, {1, 2, 3, 4, 5, 7});
  expectValues(f.run(f.op(OpKind::Sum, {x}, ax(0))), {2}, {9, 13});
  expectValues(f.run(f.op(OpKind::Mean, {x}, ax(0))), {2}, {3, 13.0f / 3});
  expectValues(f.run(f.op(OpKind::Mean, {x}, ax(1, 1))), {3, 1}, {1.5f, 3.5f, 6});
  expectValues(f.run(f.op(OpKind::BatchSize, {})), {}, {3});
  expectValues(f.run(f.b.constant(0.5, {kB, 2})), {3, 2}, {0.5f, 0.5f, 0.5f, 0.5f, 0.5f, 0.5f});
}

TEST(Evaluator, MaxReduction) {
  Fx f;
  ValueId x = f.param({2, 3}, {1, 5, -2, -7, -3, -4});
  expectValues(f.run(f.op(OpKind::Max, {x}, ax(1))), {2}, {5, -3});
  expectValues(f.run(f.op(OpKind::Max, {x}, ax(0, 1))), {1, 3}, {1, 5, -2});
}

TEST(Evaluator, SumToAndBroadcastTo) {
  Fx f;
  ValueId x = f.param({2, 3}, {1, 2, 3, 4, 5, 6});
  expectValues(f.run(f.op(OpKind::SumTo, {x}, Attrs().set("shape", Shape{3}))), {3}, {5, 7, 9});
  expectValues(f.run(f.op(OpKind::SumTo, {x}, Attrs().set("shape", Shape{2, 1}))), {2, 1}, {6, 15});
  expectValues(f.run(f.op(OpKind::SumTo, {x}, Attrs().set("shape", Shape{}))), {}, {21});
  ValueId c = f.param({2, 1}, {7, 8});
  expectValues(f.run(f.op(OpKind::BroadcastTo, {c}, Attrs().set("shape", Shape{2, 2, 3}))), {2, 2, 3},
               {7, 7, 7, 8, 8, 8, 7, 7, 7, 8, 8, 8});
}

TEST(Evaluator, ReshapeConcatSlice) {
  Fx f;
  f.batch = 2;
  ValueId x = f.dense(4, {1, 2, 3, 4, 5, 6, 7, 8});
  ValueId r = f.op(OpKind::Reshape, {x}, Attrs().set("shape", Shape{kB, 2, 2}));
  expectValues(f.run(r), {2, 2, 2}, {1, 2, 3, 4, 5, 6, 7, 8});
  ValueId y = f.dense(1, {-1, -2});
  expectValues(f.run(f.op(OpKind::Concat, {y, x, y}, ax(1))), {2, 6}, {-1, 1, 2, 3, 4, -1, -2, 5, 6, 7, 8, -2});
  expectValues(f.run(f.op(OpKind::Concat, {r, r}, ax(2))), {2, 2, 4}, {1, 2, 1, 2, 3, 4, 3, 4, 5, 6, 5, 6, 7, 8, 7, 8});
  expectValues(f.run(f.op(OpKind::Slice, {x}, Attrs().set("axis", int64_t(1)).set("begin", int64_t(1)).set("end", int64_t(3)))),
               {2, 2}, {2, 3, 6, 7});
  expectValues(f.run(f.op(OpKind::Slice, {r}, Attrs().set("axis", int64_t(2)).set("begin", int64_t(1)).set("end", int64_t(2)))),
               {2, 2, 1}, {2, 4, 6, 8});
  ValueId i = f.ids(3, {4, 5, 6, 7, 8, 9});
  Tensor si = f.run(f.op(OpKind::Slice, {i}, Attrs().set("axis", int64_t(1)).set("begin", int64_t(0)).set("end", int64_t(2))));
  EXPECT_EQ(si.dtype, DType::I32);
  EXPECT_EQ(si.i, (std::vector<int32_t>{4, 5, 7, 8}));
}

TEST(Evaluator, MatMulTransposes) {
  Fx f;
  ValueId a = f.param({2, 2}, {1, 2, 3, 4}), c = f.param({2, 2}, {5, 6, 7, 8});
  auto mm = [&](int64_t ta, int64_t tb) { return f.run(f.op(OpKind::MatMul, {a, c}, Attrs().set("ta", ta).set("tb", tb))); };
  expectValues(mm(0, 0), {2, 2}, {19, 22, 43, 50});
  expectValues(mm(1, 0), {2, 2}, {26, 30, 38, 44});
  expectValues(mm(0, 1), {2, 2}, {17, 23, 39, 53});
  expectValues(mm(1, 1), {2, 2}, {23, 31, 34, 46});
  ValueId r = f.param({2, 3}, {1, 0, -1, 2, 1, 0});  // non-square: [1,2] x [2,3]
  ValueId v = f.param({1, 2}, {3, 4});
  expectValues(f.run(f.op(OpKind::MatMul, {v, r})), {1, 3}, {11, 4, -3});
}

TEST(Evaluator, GatherWithMaxNormRenormalisesInPlace) {
  Fx f;
  f.batch = 3;
  ValueId t = f.param({3, 2}, {3, 4, 0.3f, 0.4f, 10, 0});
  ValueId i = f.ids(0, {0, 1, 0});
  Tensor out = f.run(f.op(OpKind::Gather, {t, i}, Attrs().set("max_norm", 1.0)));
  const float k = static_cast<float>(1.0 / (5 + 1e-7));  // PyTorch: max_norm / (norm + 1e-7)
  expectValues(out, {3, 2}, {3 * k, 4 * k, 0.3f, 0.4f, 3 * k, 4 * k});
  // The parameter itself changed for the looked-up row only (row 2 has norm 10 but was not read).
  EXPECT_NEAR(f.s.values[0][0], 0.6, 1e-6);
  EXPECT_NEAR(f.s.values[0][1], 0.8, 1e-6);
  EXPECT_EQ(f.s.values[0][2], 0.3f);
  EXPECT_EQ(f.s.values[0][4], 10.0f);
}

TEST(Evaluator, GatherSequencesWithoutMaxNorm) {
  Fx f;
  f.batch = 2;
  ValueId t = f.param({3, 2}, {3, 4, 1, 2, 5, 6});
  Tensor out = f.run(f.op(OpKind::Gather, {t, f.ids(2, {2, 0, 1, 1})}));
  expectValues(out, {2, 2, 2}, {5, 6, 3, 4, 1, 2, 1, 2});
  EXPECT_EQ(f.s.values[0][0], 3.0f);  // max_norm 0: the table is untouched
}

TEST(Evaluator, ScatterAddAccumulatesRepeatedIds) {
  Fx f;
  f.batch = 3;
  ValueId i = f.ids(0, {1, 1, 0});
  ValueId gr = f.dense(2, {1, 2, 3, 4, 5, 6});
  expectValues(f.run(f.op(OpKind::ScatterAdd, {i, gr}, Attrs().set("shape", Shape{3, 2}))), {3, 2}, {5, 6, 4, 6, 0, 0});
}

TEST(Evaluator, UpdateAppliesTheOptimizer) {
  Fx f;
  ValueId p = f.param({2}, {1, 2});
  ValueId gr = f.b.constant(0.5, {2});
  f.op(OpKind::Update, {p, gr}, Attrs().set("index", int64_t(0)));
  f.s.opt = ReccOptimizer{0, 0.1f, 0, 0, 0, 0, 1};
  f.run(p);
  EXPECT_FLOAT_EQ(f.s.values[0][0], 0.95f);
  EXPECT_FLOAT_EQ(f.s.values[0][1], 1.95f);
  // Adam allocates its moments on demand and keeps them in the state.
  f.s.opt = ReccOptimizer{1, 0.1f, 0.9f, 0.999f, 1e-8f, 0, 1};
  f.run(p);
  ASSERT_EQ(f.s.m.size(), 1u);
  EXPECT_NEAR(f.s.m[0][0], 0.05, 1e-7);
  EXPECT_NEAR(f.s.values[0][0], 0.85, 1e-6);
}

TEST(Evaluator, BadInputsAreDiagnostics) {
  Fx f;
  f.batch = 2;
  ValueId t = f.param({3, 2}, {0, 0, 0, 0, 0, 0});
  f.op(OpKind::Gather, {t, f.ids(0, {0, 3})});  // id 3 is out of range
  EXPECT_THROW(evaluate(f.g, 2, f.in, f.s), DiagError);
  f.in[0] = Tensor::ids({3}, {0, 1, 2});  // wrong batch
  EXPECT_THROW(evaluate(f.g, 2, f.in, f.s), DiagError);
  EXPECT_THROW(evaluate(f.g, 2, {}, f.s), DiagError);  // missing input
}

TEST(Evaluator, LeakyReluPreluPadMaskMaskedFill) {
  Fx f;
  f.batch = 2;
  ValueId x = f.param({3}, {-2, 0, 3});
  expectValues(f.run(f.op(OpKind::LeakyRelu, {x}, Attrs().set("alpha", 0.1))), {3}, {-0.2f, 0, 3});
  expectValues(f.run(f.op(OpKind::Prelu, {x, f.param({}, {0.5f})})), {3}, {-1, 0, 3});
  expectValues(f.run(f.op(OpKind::Prelu, {x, f.param({3}, {1, 2, 3})})), {3}, {-2, 0, 3});
  ValueId ids = f.ids(2, {0, 3, 3, 1});
  expectValues(f.run(f.op(OpKind::PadMask, {ids})), {2, 2}, {0, 1, 1, 1});
  expectValues(f.run(f.op(OpKind::PadMask, {ids}, Attrs().set("pad", int64_t(3)))), {2, 2}, {1, 0, 0, 1});
  ValueId m = f.op(OpKind::PadMask, {ids});
  ValueId d = f.dense(2, {1, 2, 3, 4});
  expectValues(f.run(f.op(OpKind::MaskedFill, {d, m}, Attrs().set("value", -9.0))), {2, 2}, {-9, 2, 3, 4});
  ValueId row = f.param({2}, {0, 1});  // broadcast mask: column 0 replaced in every row
  expectValues(f.run(f.op(OpKind::MaskedFill, {d, row}, Attrs().set("value", 7.0))), {2, 2}, {7, 2, 7, 4});
}

TEST(Evaluator, DropoutHashKnownAnswer) {
  // The first output of splitmix64 seeded with 0 (Vigna's reference implementation).
  EXPECT_EQ(mix64(0x9E3779B97F4A7C15ull), 0xE220A8397B1DCDAFull);
  EXPECT_EQ(dropoutThreshold(0.5), uint64_t{1} << 23);
  EXPECT_EQ(dropoutThreshold(0.0), 0u);
  EXPECT_EQ(dropoutScale(0.75), 4.0f);
}

// The element hash is 32-bit (cheap to vectorise): its masks must still look like independent
// Bernoulli draws across neighbouring elements and across steps, and the index's high half must
// take part (a tensor past 2^32 elements would otherwise repeat its mask).
TEST(Evaluator, DropoutBitsAreUniformAndIndependent) {
  const uint64_t threshold = dropoutThreshold(0.25);
  const uint64_t k1 = dropoutKey(9, 1, 1), k2 = dropoutKey(9, 1, 2);
  const int64_t n = 400000;  // a fraction of n Bernoulli(q) draws has sd <= 0.0008
  int64_t kept = 0, keptNext = 0, keptBothSteps = 0, sameAcrossHalves = 0;
  double mean = 0;
  for (int64_t i = 0; i < n; ++i) {
    const bool a = dropoutBits(k1, i) >= threshold;
    kept += a;
    keptNext += a && dropoutBits(k1, i + 1) >= threshold;
    keptBothSteps += a && dropoutBits(k2, i) >= threshold;
    sameAcrossHalves += dropoutBits(k1, i) == dropoutBits(k1, i + (int64_t{1} << 32));
    mean += static_cast<double>(dropoutBits(k1, i)) / static_cast<double>(uint64_t{1} << kDropoutBits);
  }
  const double m = static_cast<double>(n);
  EXPECT_NEAR(static_cast<double>(kept) / m, 0.75, 0.004);
  EXPECT_NEAR(static_cast<double>(keptNext) / m, 0.5625, 0.004);
  EXPECT_NEAR(static_cast<double>(keptBothSteps) / m, 0.5625, 0.004);
  EXPECT_NEAR(mean / m, 0.5, 0.002);
  EXPECT_LT(sameAcrossHalves, n / 1000);
}

// The run's seed (`recc train --seed`) takes part: another seed draws other masks, the same
// seed the same ones, as PyTorch's dropout does under torch.manual_seed.
TEST(Evaluator, DropoutMasksDependOnTheRunSeed) {
  Fx f;
  f.batch = 50;
  ValueId x = f.dense(50, std::vector<float>(50 * 50, 1.0f));
  ValueId d = f.op(OpKind::Dropout, {x}, Attrs().set("p", 0.5).set("seed", int64_t(9)));
  f.s.opt.step = 3;
  auto mask = [&](int64_t runSeed) {
    f.s.opt.seed = runSeed;
    return evaluate(f.g, f.batch, f.in, f.s)[static_cast<size_t>(d)].f;
  };
  const std::vector<float> one = mask(1);
  EXPECT_EQ(mask(1), one);
  EXPECT_NE(mask(2), one);
  for (int64_t i : {0, 7, 2499})
    EXPECT_EQ(one[static_cast<size_t>(i)] != 0, dropoutBits(dropoutKey(9, 1, 3), i) >= dropoutThreshold(0.5)) << i;
}

TEST(Evaluator, DropoutMasksByHashOfSeedStepAndIndex) {
  Fx f;
  f.batch = 100;
  std::vector<float> ones(100 * 100, 1.0f);
  ValueId x = f.dense(100, ones);
  ValueId d = f.op(OpKind::Dropout, {x}, Attrs().set("p", 0.25).set("seed", int64_t(9)));
  ValueId d0 = f.op(OpKind::Dropout, {x}, Attrs().set("p", 0.0));
  ValueId other = f.op(OpKind::Dropout, {x}, Attrs().set("p", 0.25).set("seed", int64_t(10)));
  f.s.opt.step = 1;
  std::vector<Tensor> r1 = evaluate(f.g, f.batch, f.in, f.s);
  const Tensor& y = r1[static_cast<size_t>(d)];
  int kept = 0;
  for (float v : y.f) {
    EXPECT_TRUE(v == 0.0f || v == 1.0f / 0.75f) << v;  // dropped, or scaled by 1/(1-p)
    kept += v != 0;
  }
  EXPECT_NEAR(kept / 10000.0, 0.75, 0.02);  // 10000 Bernoulli(0.75): sd 0.0043
  EXPECT_EQ(r1[static_cast<size_t>(d0)].f, ones);  // p = 0: identity
  EXPECT_NE(r1[static_cast<size_t>(other)].f, y.f);  // another seed, another mask
  // The element i of the call at step s is kept iff hash(seed, s, i) >= p.
  for (int64_t i : {0, 1, 4567, 9999})
    EXPECT_EQ(y.f[static_cast<size_t>(i)] != 0, dropoutBits(dropoutKey(9, 0, 1), i) >= dropoutThreshold(0.25)) << i;
  std::vector<Tensor> again = evaluate(f.g, f.batch, f.in, f.s);
  EXPECT_EQ(again[static_cast<size_t>(d)].f, y.f);  // same step: same mask
  f.s.opt.step = 2;
  EXPECT_NE(evaluate(f.g, f.batch, f.in, f.s)[static_cast<size_t>(d)].f, y.f);  // next step: new mask
}

TEST(Evaluator, SoftmaxLogSoftmaxAndFullyMaskedRows) {
  Fx f;
  ValueId x = f.param({2, 3}, {1, 2, 3, -1e9f, -1e9f, -1e9f});
  Attrs last = Attrs().set("axis", int64_t(1));
  expectValues(f.run(f.op(OpKind::Softmax, {x}, last)), {2, 3},
               {0.09003057f, 0.24472847f, 0.66524096f, 1 / 3.0f, 1 / 3.0f, 1 / 3.0f});
  expectValues(f.run(f.op(OpKind::LogSoftmax, {x}, last)), {2, 3},
               {-2.40760596f, -1.40760596f, -0.40760596f, -1.0986123f, -1.0986123f, -1.0986123f});
  ValueId c = f.param({2, 2}, {0, 5, 0, 5});  // along axis 0: equal columns give 1/2
  expectValues(f.run(f.op(OpKind::Softmax, {c}, Attrs().set("axis", int64_t(0)))), {2, 2}, {0.5f, 0.5f, 0.5f, 0.5f});
}

TEST(Evaluator, TransposeOneHotAndBatchMatMul) {
  Fx f;
  f.batch = 3;
  ValueId x = f.param({2, 3}, {1, 2, 3, 4, 5, 6});
  expectValues(f.run(f.op(OpKind::Transpose, {x}, Attrs().set("perm", Shape{1, 0}))), {3, 2}, {1, 4, 2, 5, 3, 6});
  ValueId x3 = f.param({2, 1, 2}, {1, 2, 3, 4});
  expectValues(f.run(f.op(OpKind::Transpose, {x3}, Attrs().set("perm", Shape{2, 0, 1}))), {2, 2, 1}, {1, 3, 2, 4});
  ValueId ids = f.ids(0, {2, 0, 5});
  expectValues(f.run(f.op(OpKind::OneHot, {ids}, Attrs().set("depth", Shape{3}))), {3, 3}, {0, 0, 1, 1, 0, 0, 0, 0, 0});
  // two batches of [1,2] x [2,2]
  ValueId a = f.param({2, 1, 2}, {1, 2, 3, 4}), b = f.param({2, 2, 2}, {1, 0, 0, 1, 1, 1, 1, -1});
  expectValues(f.run(f.op(OpKind::BatchMatMul, {a, b})), {2, 1, 2}, {1, 2, 7, -1});
  expectValues(f.run(f.op(OpKind::BatchMatMul, {a, b}, Attrs().set("tb", int64_t(1)))), {2, 1, 2}, {1, 2, 7, -1});
  ValueId w = f.param({2, 2}, {1, 2, 3, 4});  // shared by both batches
  expectValues(f.run(f.op(OpKind::BatchMatMul, {a, w})), {2, 1, 2}, {7, 10, 15, 22});
  ValueId w1 = f.param({1, 2}, {1, 2});  // a[l]^T [2,1] x [1,2]: outer products
  expectValues(f.run(f.op(OpKind::BatchMatMul, {a, w1}, Attrs().set("ta", int64_t(1)))), {2, 2, 2},
               {1, 2, 2, 4, 3, 6, 4, 8});
  // matmul on a sequence: [2,1,2] x [2,2] flattens the leading dims
  expectValues(f.run(f.op(OpKind::MatMul, {a, w})), {2, 1, 2}, {7, 10, 15, 22});
  // ta=1 contracts both leading dims: sum over the 2 rows of a^T w-rows
  ValueId c = f.param({2, 1, 2}, {1, 0, 0, 1});
  expectValues(f.run(f.op(OpKind::MatMul, {a, c}, Attrs().set("ta", int64_t(1)))), {2, 2}, {1, 3, 2, 4});
}

TEST(Evaluator, ShardSumOfTheWholeBatchIsItsOperand) {
  Fx f;
  expectValues(f.run(f.op(OpKind::ShardSum, {f.param({3}, {1, -2, 5})})), {3}, {1, -2, 5});
}

TEST(Evaluator, LayerNormAndBatchMoments) {
  Fx f;
  f.batch = 2;
  ValueId x = f.param({1, 4}, {1, 2, 3, 4});  // mean 2.5, variance 1.25
  ValueId ln = f.op(OpKind::LayerNorm, {x, f.param({4}, {1, 1, 2, 2}), f.param({4}, {0, 0, 0, 1})},
                    Attrs().set("eps", 1e-5));
  const float u = static_cast<float>(0.5 / std::sqrt(1.25 + 1e-5)), v = 3 * u;
  expectValues(f.run(ln), {1, 4}, {-v, -u, 2 * u, 2 * v + 1});

  ValueId d = f.dense(2, {1, 2, 3, 6});  // columns: mean 2, 4; biased var 1, 4; unbiased 2, 8
  ValueId rm = f.param({2}, {0, 0}), rv = f.param({2}, {1, 1});
  ValueId m = f.op(OpKind::BatchMoments, {d, rm, rv}, Attrs().set("eps", 1e-5).set("momentum", 0.1));
  expectValues(f.run(m), {2, 2},
               {2, 4, static_cast<float>(1 / std::sqrt(1 + 1e-5)), static_cast<float>(1 / std::sqrt(4 + 1e-5))});
  // The running statistics were updated in the state: 0.9 r + 0.1 s (unbiased variance).
  EXPECT_NEAR(f.s.values[3][0], 0.2, 1e-6);
  EXPECT_NEAR(f.s.values[3][1], 0.4, 1e-6);
  EXPECT_NEAR(f.s.values[4][0], 1.1, 1e-6);
  EXPECT_NEAR(f.s.values[4][1], 1.7, 1e-6);
}

TEST(Evaluator, CrossEntropyIgnoresPadding) {
  Fx f;
  f.batch = 3;
  ValueId z = f.dense(3, {0, 0, 0, 1, 2, 3, 5, 5, 5});
  ValueId t = f.ids(0, {1, 2, 0});
  expectValues(f.run(f.op(OpKind::CrossEntropy, {z, t})), {3}, {1.0986123f, 0.40760596f, 0});
  expectValues(f.run(f.op(OpKind::CrossEntropy, {z, t}, Attrs().set("ignore_index", int64_t(-1)))), {3},
               {1.0986123f, 0.40760596f, 1.0986123f});
  ValueId bad = f.ids(0, {1, 3, 1});
  f.op(OpKind::CrossEntropy, {z, bad});
  EXPECT_THROW(evaluate(f.g, f.batch, f.in, f.s), DiagError);  // target 3 is not a class
}

TEST(Evaluator, PositionalEncodingAndConvolution) {
  Fx f;
  ValueId pe = f.op(OpKind::PositionalEncoding, {}, Attrs().set("length", int64_t(2)).set("dim", int64_t(4)));
  // t = 1: angles 1 and 1/100 (10000^(2/4) = 100)
  expectValues(f.run(pe), {2, 4}, {0, 1, 0, 1, 0.84147098f, 0.54030231f, 0.00999983f, 0.99995f});
  ValueId x = f.param({1, 3, 1}, {1, 2, 3});
  ValueId w = f.param({2, 1, 1}, {1, 10}), bias = f.param({1}, {0.5f});
  expectValues(f.run(f.op(OpKind::Conv1d, {x, w, bias})), {1, 2, 1}, {21.5f, 32.5f});
  expectValues(f.run(f.op(OpKind::Conv1d, {x, w, bias}, Attrs().set("padding", int64_t(1)))), {1, 4, 1},
               {10.5f, 21.5f, 32.5f, 3.5f});
  expectValues(f.run(f.op(OpKind::Conv1d, {x, w, bias}, Attrs().set("stride", int64_t(2)).set("padding", int64_t(1)))),
               {1, 2, 1}, {10.5f, 32.5f});
  Attrs win = Attrs().set("kernel", int64_t(2)).set("padding", int64_t(1));
  ValueId cols = f.op(OpKind::Unfold1d, {x}, win);
  expectValues(f.run(cols), {1, 4, 2}, {0, 1, 1, 2, 2, 3, 3, 0});
  expectValues(f.run(f.op(OpKind::Fold1d, {cols}, Attrs(win).set("length", int64_t(3)))), {1, 3, 1}, {2, 4, 6});
}
