// lowerThinProducts: matmuls with a dimension of 1 become broadcast multiplies and sums, with
// the values of the products they replace; the training step of a one-output layer keeps none.
#include <gtest/gtest.h>

#include "compiler/ir/Verifier.h"
#include "compiler/passes/Algebra.h"
#include "tests/passes/GradCheck.h"

namespace recc {
namespace {

using testing::GradCheck;

ValueId matmul(GradCheck& c, ValueId a, ValueId b, bool ta = false, bool tb = false) {
  return c.b.add(OpKind::MatMul, {a, b}, Attrs().set("ta", int64_t{ta}).set("tb", int64_t{tb}));
}

int thinProducts(const Graph& g) {
  int thin = 0;
  for (const Node& n : g.nodes) {
    if (n.op != OpKind::MatMul) continue;
    const Shape& a = g.at(n.inputs[0]).shape;
    const bool k1 = n.attrs.i("ta") == 0 && a.back() == Dim(1);
    thin += k1 || n.shape.back() == Dim(1) || n.shape[n.shape.size() - 2] == Dim(1);
  }
  return thin;
}

TEST(ThinProducts, EveryKindBecomesALoopWithTheSameValues) {
  GradCheck c;
  ValueId h = c.b.add(OpKind::Reshape, {c.dense(12)}, Attrs().set("shape", Shape{kB, 3, 4}));  // [B,3,4]
  std::vector<ValueId> products = {
      matmul(c, h, c.param({4, 1})),                 // N = 1: a score per position [B,3,1]
      matmul(c, h, c.param({1, 4}), false, true),    // N = 1 with the weight transposed
  };
  const ValueId score = products[0];
  products.push_back(matmul(c, score, c.param({5, 1}), false, true));  // K = 1: outer product [B,3,5]
  products.push_back(matmul(c, score, c.param({1, 5})));               // K = 1, weight as stored
  products.push_back(matmul(c, h, score, true));                      // ta = 1, N = 1: [4,1]
  products.push_back(matmul(c, score, h, true));                      // ta = 1, M = 1: [1,4]
  const ValueId wide = matmul(c, h, c.param({4, 6}));                  // stays a product
  for (ValueId p : products) c.g.named.push_back({"p" + std::to_string(p), p, {}});
  c.g.named.push_back({"wide", wide, {}});
  Graph f = c.g;
  EXPECT_EQ(lowerThinProducts(f), 6);
  verify(f);
  EXPECT_EQ(thinProducts(f), 0);
  int left = 0;
  for (const Node& n : f.nodes) left += n.op == OpKind::MatMul;
  EXPECT_EQ(left, 1);
  ParamState s = c.randomState(), s2 = s;
  std::vector<Tensor> want = evaluate(c.g, c.batch, c.inputs(), s), got = evaluate(f, c.batch, c.inputs(), s2);
  for (size_t k = 0; k < c.g.named.size(); ++k) {
    const Tensor& w = want[static_cast<size_t>(c.g.named[k].value)];
    const Tensor& x = got[static_cast<size_t>(f.named[k].value)];
    EXPECT_EQ(f.at(f.named[k].value).shape, c.g.at(c.g.named[k].value).shape) << c.g.named[k].name;
    ASSERT_EQ(x.f.size(), w.f.size());
    for (size_t i = 0; i < w.f.size(); ++i) EXPECT_NEAR(x.f[i], w.f[i], 1e-5) << c.g.named[k].name << " " << i;
  }
}

TEST(ThinProducts, LoweredGradientsMatchFiniteDifferences) {
  GradCheck c;
  ValueId h = c.b.add(OpKind::Reshape, {c.dense(12)}, Attrs().set("shape", Shape{kB, 3, 4}));
  ValueId score = c.b.add(OpKind::Tanh, {matmul(c, h, c.param({4, 1}))});
  ValueId y = matmul(c, score, c.param({1, 5}));
  c.g.named.push_back({"y", c.b.add(OpKind::Reshape, {y}, Attrs().set("shape", Shape{kB, 15})), {}});
  ASSERT_EQ(lowerThinProducts(c.g), 2);  // renumbers the nodes: y is read back by name
  c.check(c.g.named.back().value);
}

// A one-output layer over a sequence (DIN's attention score): its forward product and both of
// its gradients (the input's, an outer product; the weight's, a column sum) leave the step.
TEST(ThinProducts, TheTrainingStepOfAOneOutputLayerHasNoThinProduct) {
  GradCheck c;
  ValueId h = c.b.add(OpKind::Reshape, {c.dense(12)}, Attrs().set("shape", Shape{kB, 3, 4}));
  ValueId hidden = c.b.add(OpKind::Relu, {matmul(c, h, c.param({4, 4}))});
  ValueId score = matmul(c, hidden, c.param({4, 1}));
  ValueId loss = c.b.add(OpKind::Mean, {c.b.add(OpKind::Reshape, {score}, Attrs().set("shape", Shape{kB, 3}))},
                         Attrs().set("axis", int64_t{1}));
  c.g.losses.push_back({c.b.add(OpKind::Mean, {loss}, Attrs().set("axis", int64_t{0})), 1.0, {}});
  Graph step = buildTrainStep(c.g);
  EXPECT_EQ(thinProducts(step), 0);
  int products = 0;
  for (const Node& n : step.nodes) products += n.op == OpKind::MatMul;
  EXPECT_EQ(products, 2);  // the hidden layer's forward product and its weight gradient
}

}  // namespace
}  // namespace recc
