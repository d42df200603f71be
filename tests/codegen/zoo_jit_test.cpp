// Every zoo field model: JIT forward outputs, parameter gradients and training steps vs reference.
#include "compiler/frontend/Frontend.h"
#include "compiler/passes/Autodiff.h"
#include "tests/codegen/JitHarness.h"

namespace recc::test {
namespace {

const std::map<std::string, int64_t> kVocab = {{"user", 50}, {"movie", 80}, {"year", 20}, {"genre", 22}};

Graph loadModel(const std::string& name) { return loadZooModel(name, kVocab); }

class ZooJit : public ::testing::TestWithParam<std::string> {};

TEST_P(ZooJit, ForwardOutputsMatchReference) {
  Graph g = loadModel(GetParam());
  std::vector<ValueId> fetches;
  for (const NamedValue& o : g.outputs) fetches.push_back(o.value);
  for (const LossTerm& l : g.losses) fetches.push_back(l.value);
  ASSERT_FALSE(fetches.empty());
  EXPECT_TRUE(matchesReference(g, kVocab, fetches, 5, 21, 8));
  EXPECT_TRUE(matchesReference(g, kVocab, fetches, 8, 22, 8));
}

TEST_P(ZooJit, EveryParameterGradientMatchesReference) {
  Graph g = loadModel(GetParam());
  differentiate(g);
  std::vector<ValueId> fetches = {g.loss};
  for (ValueId gr : g.grads)
    if (gr >= 0) fetches.push_back(gr);
  ASSERT_GT(fetches.size(), 1u);
  EXPECT_TRUE(matchesReference(g, kVocab, fetches, 5, 31, 8));
}

TEST_P(ZooJit, SgdTrainingStepsMatchReference) {
  Graph step = buildTrainStep(loadModel(GetParam()));
  ReccOptimizer sgd{0, 0.05f, 0.9f, 0.999f, 1e-8f, 0.01f, 1};
  EXPECT_TRUE(matchesReference(step, kVocab, {step.loss}, 6, 41, 8, 3, sgd));  // three steps
}

TEST_P(ZooJit, AdamWTrainingStepsMatchReference) {
  Graph step = buildTrainStep(loadModel(GetParam()));
  // Adam divides by sqrt(v): a gradient of ~1e-8 (all rounding) moves a weight by up to lr,
  // so weights are compared to 1% of one step; the moments themselves still match tightly.
  ReccOptimizer adamw{2, 0.01f, 0.9f, 0.999f, 1e-8f, 0.01f, 1};
  EXPECT_TRUE(matchesReference(step, kVocab, {step.loss}, 6, 41, 8, 3, adamw, 1e-2 * 0.01));
}

INSTANTIATE_TEST_SUITE_P(Models, ZooJit,
                         ::testing::Values("als_mlp", "als_concat", "embedding_mlp", "fnn", "wide_deep",
                                           "deepfm"));

}  // namespace
}  // namespace recc::test
