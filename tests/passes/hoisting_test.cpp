// hoistParameterOnly: what moves into the preparation graph, what stays, and that the two graphs
// together compute what the one did.
#include <gtest/gtest.h>

#include "compiler/ir/Verifier.h"
#include "compiler/passes/Algebra.h"
#include "compiler/passes/Hoisting.h"
#include "tests/passes/GradCheck.h"

namespace recc {
namespace {

using testing::GradCheck;

ValueId matmul(GradCheck& c, ValueId x, ValueId w) {
  return c.b.add(OpKind::MatMul, {x, w}, Attrs().set("ta", int64_t{0}).set("tb", int64_t{0}));
}

/// relu(e(id) W1 + b1) W2 over a 5-row table: after gather sinking, a chain of table products
/// that reads no input until the final lookup.
ValueId sunkTower(GradCheck& c) {
  ValueId e = c.b.add(OpKind::Gather, {c.param({5, 32}), c.ids(0, 5)}, Attrs().set("max_norm", 0.0));
  ValueId h = c.b.add(OpKind::Relu, {c.b.add(OpKind::Add, {matmul(c, e, c.param({32, 16})), c.param({16})})});
  ValueId y = matmul(c, h, c.param({16, 3}));
  c.g.outputs.push_back({"y", y, {}});
  EXPECT_EQ(sinkGathers(c.g, 1024), 4);
  return c.g.outputs.back().value;
}

/// Whether v depends on an input (or the batch size).
bool readsInput(const Graph& g, ValueId v) {
  const Node& n = g.at(v);
  if (n.op == OpKind::Input || n.op == OpKind::BatchSize) return true;
  for (ValueId in : n.inputs)
    if (readsInput(g, in)) return true;
  return false;
}

/// `g`'s value `v` on the reference evaluator, after running `prep` and handing its outputs to
/// g's derived parameters (what the JIT engine does once per parameter version).
std::vector<float> withPrep(GradCheck& c, const Graph& prep, const Graph& g, ValueId v, ParamState s) {
  std::vector<Tensor> pv = evaluate(prep, 1, {}, s);
  for (const NamedValue& o : prep.outputs) s.values.push_back(pv[static_cast<size_t>(o.value)].f);
  EXPECT_EQ(s.values.size(), g.params.size());
  return evaluate(g, c.batch, c.inputs(), s)[static_cast<size_t>(v)].f;
}

TEST(Hoisting, ASunkTowerIsComputedOncePerParameterVersion) {
  GradCheck c;
  const ValueId y = sunkTower(c);
  const Graph before = c.g;
  Graph g = c.g;
  std::vector<ValueId> roots = {y};
  Graph prep = hoistParameterOnly(g, roots);
  verify(g);
  verify(prep);
  // The whole tower is one [5, 3] table; the per-batch graph only looks it up.
  ASSERT_EQ(prep.outputs.size(), 1u);
  EXPECT_EQ(shapeStr(prep.at(prep.outputs[0].value).shape), "[5,3]");
  EXPECT_TRUE(prep.inputs.empty());
  ASSERT_EQ(g.params.size(), before.params.size() + 1);
  EXPECT_TRUE(g.params.back().derived);
  EXPECT_EQ(g.outputs[0].value, roots[0]);
  const Node& out = g.at(roots[0]);
  ASSERT_EQ(out.op, OpKind::Gather);
  EXPECT_EQ(g.at(out.inputs[0]).op, OpKind::Param);
  EXPECT_EQ(g.at(out.inputs[0]).attrs.i("index"), static_cast<int64_t>(before.params.size()));
  // Every computing node left reads an input.
  for (size_t i = 0; i < g.nodes.size(); ++i) {
    const bool computes = opInfo(g.nodes[i].op).cls != OpClass::Leaf;
    EXPECT_TRUE(!computes || readsInput(g, static_cast<ValueId>(i))) << i;
  }

  ParamState s = c.randomState();
  ParamState copy = s;
  std::vector<float> want = evaluate(before, c.batch, c.inputs(), copy)[static_cast<size_t>(y)].f;
  EXPECT_EQ(withPrep(c, prep, g, roots[0], s), want);
}

TEST(Hoisting, NothingParameterOnlyLeavesTheGraphAlone) {
  GradCheck c;
  ValueId e = c.b.add(OpKind::Gather, {c.param({5, 8}), c.ids(0, 5)}, Attrs().set("max_norm", 0.0));
  ValueId y = matmul(c, e, c.param({8, 3}));  // reads its parameters directly
  c.g.outputs.push_back({"y", y, {}});
  Graph g = c.g;
  std::vector<ValueId> roots = {y};
  Graph prep = hoistParameterOnly(g, roots);
  EXPECT_TRUE(prep.outputs.empty());
  EXPECT_EQ(g.nodes.size(), c.g.nodes.size());
  EXPECT_EQ(g.params.size(), c.g.params.size());
  EXPECT_EQ(roots[0], y);
}

TEST(Hoisting, WeightArithmeticAndPositionalEncodingsMove) {
  GradCheck c;
  // x (W1 - W2) + positional encoding: the difference and the encoding depend on no input.
  ValueId x = c.batched({4, 8});
  ValueId w = c.b.add(OpKind::Sub, {c.param({8, 8}), c.param({8, 8})});
  ValueId pe = c.b.add(OpKind::PositionalEncoding, {}, Attrs().set("length", int64_t{4}).set("dim", int64_t{8}));
  ValueId y = c.b.add(OpKind::Add, {matmul(c, x, w), pe});
  c.g.outputs.push_back({"y", y, {}});
  Graph g = c.g;
  std::vector<ValueId> roots;  // outputs are kept without being roots
  Graph prep = hoistParameterOnly(g, roots);
  ASSERT_EQ(g.outputs.size(), 1u);
  ASSERT_EQ(prep.outputs.size(), 2u);
  EXPECT_EQ(prep.at(prep.outputs[0].value).op, OpKind::Sub);
  EXPECT_EQ(prep.at(prep.outputs[1].value).op, OpKind::PositionalEncoding);
  for (const Node& n : g.nodes) EXPECT_NE(n.op, OpKind::Sub);
  ParamState s = c.randomState();
  ParamState copy = s;
  std::vector<float> want = evaluate(c.g, c.batch, c.inputs(), copy)[static_cast<size_t>(y)].f;
  EXPECT_EQ(withPrep(c, prep, g, g.outputs[0].value, s), want);
}

TEST(Hoisting, ATrainingStepKeepsItsUpdatesAndComputesTheTowerBeforeThem) {
  // In a training step the sunk tower's table products are computed once per step (rather than
  // in every shard), from the parameters before the step's updates.
  GradCheck c;
  const ValueId y = sunkTower(c);
  c.setLoss(y);
  const Graph step = buildTrainStep(c.g, c.batch);
  auto updates = [](const Graph& g) {
    int count = 0;
    for (const Node& n : g.nodes) count += opInfo(n.op).cls == OpClass::Update;
    return count;
  };
  Graph g = step;
  std::vector<ValueId> roots = {g.loss};
  Graph prep = hoistParameterOnly(g, roots);
  verify(g);
  verify(prep);
  EXPECT_EQ(updates(g), updates(step));
  EXPECT_EQ(updates(prep), 0);
  EXPECT_TRUE(prep.inputs.empty());
  bool tableProduct = false;  // the tower's first layer over the table's 5 rows
  for (const NamedValue& o : prep.outputs) tableProduct |= shapeStr(prep.at(o.value).shape) == "[5,16]";
  EXPECT_TRUE(tableProduct);

  ParamState s = c.randomState();
  for (const std::vector<float>& v : s.values) {
    s.m.emplace_back(v.size(), 0.0f);
    s.v.emplace_back(v.size(), 0.0f);
  }
  s.opt.step = 1;
  const ParamState initial = s;
  ParamState whole = s;
  const float want = evaluate(step, c.batch, c.inputs(), whole)[static_cast<size_t>(step.loss)].f[0];
  EXPECT_EQ(withPrep(c, prep, g, roots[0], s)[0], want);
  // withPrep ran on a copy of s: run the split step on s itself to compare the updates.
  std::vector<Tensor> pv = evaluate(prep, 1, {}, s);
  for (const NamedValue& o : prep.outputs) s.values.push_back(pv[static_cast<size_t>(o.value)].f);
  evaluate(g, c.batch, c.inputs(), s);
  for (size_t p = 0; p < whole.values.size(); ++p) {
    EXPECT_EQ(s.values[p], whole.values[p]) << "parameter " << p;
    EXPECT_NE(s.values[p], initial.values[p]) << "parameter " << p << " was not updated";
  }
}

}  // namespace
}  // namespace recc
