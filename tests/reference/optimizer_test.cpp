// recc_rt_update_f32 against hand-computed SGD / Adam / AdamW steps (PyTorch formulas).
#include <gtest/gtest.h>

#include <cmath>

#include "runtime/kernels/Kernels.h"

namespace {

// lr 0.1, betas (0.9, 0.999), eps 1e-8; p0 = 1, gradients 0.5 then -0.2. Expected values were
// worked out by hand from the formulas in Kernels.h (bias corrections 1-0.9^t, 1-0.999^t).
// v is compared to 1e-8 (4e-5 relative): 0.999 is not exact in float, 1 - 0.999f is 1.3e-5 off.
ReccOptimizer opt(int32_t kind, float wd) { return ReccOptimizer{kind, 0.1f, 0.9f, 0.999f, 1e-8f, wd, 0}; }

struct OneParam {
  float p = 1, m = 0, v = 0;
  void step(ReccOptimizer o, int64_t t, float g) {
    o.step = t;
    recc_rt_update_f32(&o, &p, &g, &m, &v, 1);
  }
};

}  // namespace

TEST(Optimizer, SgdWithWeightDecay) {
  ReccOptimizer o = opt(0, 0.01f);
  float p[2] = {1.0f, -2.0f};
  const float g[2] = {0.5f, 0.25f};
  recc_rt_update_f32(&o, p, g, nullptr, nullptr, 2);  // SGD needs no moments
  EXPECT_FLOAT_EQ(p[0], 1.0f - 0.1f * (0.5f + 0.01f));   // 0.949
  EXPECT_FLOAT_EQ(p[1], -2.0f - 0.1f * (0.25f - 0.02f));  // -2.023
}

TEST(Optimizer, AdamTwoSteps) {
  OneParam r;
  r.step(opt(1, 0), 1, 0.5f);
  EXPECT_NEAR(r.m, 0.05, 1e-7);
  EXPECT_NEAR(r.v, 0.00025, 1e-8);
  EXPECT_NEAR(r.p, 0.9, 1e-6);  // the first Adam step moves by lr (m^/sqrt(v^) = 1)
  r.step(opt(1, 0), 2, -0.2f);
  EXPECT_NEAR(r.m, 0.025, 1e-7);
  EXPECT_NEAR(r.v, 0.00028975, 1e-8);
  EXPECT_NEAR(r.p, 0.8654394, 1e-6);
}

TEST(Optimizer, AdamAddsL2DecayToTheGradient) {
  OneParam r;
  r.step(opt(1, 0.1f), 1, 0.5f);  // g' = 0.5 + 0.1 * 1
  EXPECT_NEAR(r.m, 0.06, 1e-7);
  EXPECT_NEAR(r.v, 0.00036, 1e-8);
  r.step(opt(1, 0.1f), 2, -0.2f);
  EXPECT_NEAR(r.m, 0.043, 1e-7);
  EXPECT_NEAR(r.p, 0.8475191, 1e-6);
}

TEST(Optimizer, AdamWDecaysWeightsDirectly) {
  OneParam r;
  r.step(opt(2, 0.1f), 1, 0.5f);  // p *= 1 - 0.01, then the plain Adam step
  EXPECT_NEAR(r.m, 0.05, 1e-7);  // the moments never see the decay
  EXPECT_NEAR(r.p, 0.89, 1e-6);
  r.step(opt(2, 0.1f), 2, -0.2f);
  EXPECT_NEAR(r.v, 0.00028975, 1e-8);
  EXPECT_NEAR(r.p, 0.8465394, 1e-6);
}

TEST(Optimizer, BiasCorrectionUsesTheStepNumber) {
  // Same state, different step numbers: a later step has smaller bias corrections.
  OneParam a, b;
  a.m = b.m = 0.05f;
  a.v = b.v = 0.00025f;
  a.step(opt(1, 0), 2, 0.5f);
  b.step(opt(1, 0), 1000, 0.5f);
  EXPECT_GT(std::abs(a.p - 1.0f), 0.09f);
  EXPECT_NE(a.p, b.p);
}
