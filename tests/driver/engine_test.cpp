// Engines: the JIT's inference engine computes parameter-only values once per parameter version
// (passes/Hoisting.h) and recomputes them exactly when the parameters change.
#include <gtest/gtest.h>

#include "tests/passes/GradCheck.h"
#include "tools/driver/Engine.h"

namespace recc {
namespace {

using testing::GradCheck;

std::vector<const void*> pointers(const std::vector<Tensor>& ts) {
  std::vector<const void*> p;
  for (const Tensor& t : ts) p.push_back(t.dtype == DType::I32 ? static_cast<const void*>(t.i.data()) : t.f.data());
  return p;
}

/// y = x (W1 - W2): the weight difference depends on parameters only.
struct Model {
  GradCheck c;
  ValueId y;
  Model() {
    ValueId w = c.b.add(OpKind::Sub, {c.param({4, 3}), c.param({4, 3})});
    y = c.b.add(OpKind::MatMul, {c.dense(4), w}, Attrs().set("ta", int64_t{0}).set("tb", int64_t{0}));
    c.g.outputs.push_back({"y", y, {}});
  }
  std::vector<float> run(Engine& e, ParamState& s) {
    std::vector<float> out(static_cast<size_t>(c.batch * 3));
    e.run(c.batch, pointers(c.inputs()), s, {out.data()});
    return out;
  }
};

void expectNear(const std::vector<float>& a, const std::vector<float>& b) {
  ASSERT_EQ(a.size(), b.size());
  for (size_t i = 0; i < a.size(); ++i) EXPECT_NEAR(a[i], b[i], 1e-5) << i;
}

TEST(Engine, HoistedValuesFollowTheParameters) {
  Model m;
  auto jit = makeEngine("jit", m.c.g, {m.y}, m.c.batch);
  auto ref = makeEngine("reference", m.c.g, {m.y}, m.c.batch);
  ParamState s = m.c.randomState();
  const std::vector<float> first = m.run(*jit, s);
  expectNear(first, m.run(*ref, s));
  expectNear(m.run(*jit, s), first);  // same version: the prepared difference is reused

  s.values[0][0] += 1.0f;  // written by hand: touch() announces it
  s.touch();
  const std::vector<float> second = m.run(*jit, s);
  expectNear(second, m.run(*ref, s));
  EXPECT_NE(second, first);
}

TEST(Engine, ATrainingStepGivesTheParametersANewVersion) {
  Model m;
  m.c.setLoss(m.y);
  Graph step = buildTrainStep(m.c.g, m.c.batch);
  auto train = makeEngine("jit", step, {step.loss}, m.c.batch);
  auto jit = makeEngine("jit", m.c.g, {m.y}, m.c.batch);
  auto ref = makeEngine("reference", m.c.g, {m.y}, m.c.batch);
  ParamState s = m.c.randomState();
  for (size_t p = 0; p < s.values.size(); ++p) {
    s.m.emplace_back(s.values[p].size(), 0.0f);
    s.v.emplace_back(s.values[p].size(), 0.0f);
  }
  const std::vector<float> before = m.run(*jit, s);
  const uint64_t version = s.version;
  float loss = 0;
  s.opt.step = 1;
  train->run(m.c.batch, pointers(m.c.inputs()), s, {&loss});
  EXPECT_NE(s.version, version);
  const std::vector<float> after = m.run(*jit, s);
  expectNear(after, m.run(*ref, s));
  EXPECT_NE(after, before);
}

TEST(Engine, TrainingRecomputesHoistedValuesEveryStep) {
  // The training step's weight difference is hoisted too (computed once per step, not per
  // shard): each step must see the previous step's update, as the reference engine does.
  Model m;
  m.c.setLoss(m.y);
  Graph step = buildTrainStep(m.c.g, m.c.batch);
  auto jit = makeEngine("jit", step, {step.loss}, m.c.batch);
  auto ref = makeEngine("reference", step, {step.loss}, m.c.batch);
  ParamState s = m.c.randomState();
  for (size_t p = 0; p < s.values.size(); ++p) {
    s.m.emplace_back(s.values[p].size(), 0.0f);
    s.v.emplace_back(s.values[p].size(), 0.0f);
  }
  ParamState r = s;
  std::vector<float> losses;
  for (int64_t k = 1; k <= 3; ++k) {
    float a = 0, b = 0;
    s.opt.step = r.opt.step = k;
    jit->run(m.c.batch, pointers(m.c.inputs()), s, {&a});
    ref->run(m.c.batch, pointers(m.c.inputs()), r, {&b});
    EXPECT_NEAR(a, b, 1e-4 * (1 + std::abs(b))) << "step " << k;
    losses.push_back(a);
  }
  EXPECT_NE(losses.front(), losses.back());
  for (size_t p = 0; p < s.values.size(); ++p) expectNear(s.values[p], r.values[p]);
}

}  // namespace
}  // namespace recc
