// Sharded runs (compiler/codegen/Sharding.h): which graphs split and why not, and every zoo
// model's forward outputs, gradients and training steps run in shards against the reference
// evaluator on the whole batch (dropout masks included: shards draw the whole batch's mask).
#include "compiler/codegen/Sharding.h"
#include "compiler/frontend/Frontend.h"
#include "compiler/passes/Autodiff.h"
#include "tests/codegen/JitHarness.h"

namespace recc::test {
namespace {

const std::map<std::string, int64_t> kVocab = {{"user", 30}, {"movie", 60}, {"year", 20}, {"genre", 22}};

Graph loadModel(const std::string& name) {
  Graph g = buildModel(std::string(RECC_SOURCE_DIR) + "/zoo/" + name + ".rec");
  bindVocabularies(g, kVocab);
  return g;
}

std::vector<ValueId> outputsAndLosses(const Graph& g) {
  std::vector<ValueId> fetches;
  for (const NamedValue& o : g.outputs) fetches.push_back(o.value);
  for (const LossTerm& l : g.losses) fetches.push_back(l.value);
  return fetches;
}

// Batch 7 in 2 or 3 shards (rows 4 + 3, or 3 + 2 + 2).
constexpr int64_t kBatch = 7;

class ShardedZoo : public ::testing::TestWithParam<std::string> {};

TEST_P(ShardedZoo, ForwardInShardsMatchesReference) {
  Graph g = loadModel(GetParam());
  std::string why;
  ASSERT_TRUE(planShards(g, outputsAndLosses(g), &why)) << why;
  EXPECT_TRUE(matchesReference(g, kVocab, outputsAndLosses(g), kBatch, 21, 8, 1, {}, 1e-6, 2));
  EXPECT_TRUE(matchesReference(g, kVocab, outputsAndLosses(g), kBatch, 22, 8, 1, {}, 1e-6, 3));
}

TEST_P(ShardedZoo, GradientsInShardsMatchReference) {
  Graph g = loadModel(GetParam());
  differentiate(g);
  std::vector<ValueId> fetches = {g.loss};
  for (ValueId gr : g.grads)
    if (gr >= 0) fetches.push_back(gr);
  // Training mode (step 1): dropout is on.
  EXPECT_TRUE(matchesReference(g, kVocab, fetches, kBatch, 31, 8, 1, {0, 0.05f, 0.9f, 0.999f, 1e-8f, 0.01f, 1}, 1e-6, 2));
}

TEST_P(ShardedZoo, TrainingStepsInShardsMatchReference) {
  Graph step = buildTrainStep(loadModel(GetParam()));
  std::string why;
  ASSERT_TRUE(planShards(step, {step.loss}, &why)) << why;
  ReccOptimizer sgd{0, 0.05f, 0.9f, 0.999f, 1e-8f, 0.01f, 1};
  EXPECT_TRUE(matchesReference(step, kVocab, {step.loss}, kBatch, 41, 8, 3, sgd, 1e-6, 2));
  EXPECT_TRUE(matchesReference(step, kVocab, {step.loss}, kBatch, 42, 8, 2, sgd, 1e-6, 3));
}

INSTANTIATE_TEST_SUITE_P(Models, ShardedZoo,
                         ::testing::Values("als_mlp", "als_concat", "embedding_mlp", "fnn", "wide_deep", "deepfm",
                                           "cnn", "afm", "nfm", "pnn", "dcn", "rnn", "rnn_als", "base_sequential",
                                           "bst", "transformer_encoder"));

// Adam divides by sqrt(v): a gradient of ~1e-8 (all rounding, which differs with the order of
// the sums) moves a weight by up to lr, so weights are compared to 1% of one step.
TEST(Sharding, AdamWTrainingStepsOfFieldModelsMatchReference) {
  for (const char* model : {"als_mlp", "fnn", "wide_deep", "deepfm"}) {
    Graph step = buildTrainStep(loadModel(model));
    ReccOptimizer adamw{2, 0.01f, 0.9f, 0.999f, 1e-8f, 0.01f, 1};
    EXPECT_TRUE(matchesReference(step, kVocab, {step.loss}, kBatch, 42, 8, 3, adamw, 1e-2 * 0.01, 2)) << model;
  }
}

// A loss averaged over the valid positions of the whole batch (masked_loss) scales every
// row's gradient by the whole batch's count: those steps run unsharded; inference shards.
TEST(Sharding, LossesNormalisedByTheWholeBatchRunWhole) {
  for (const char* model : {"rnn_history", "transformer4rec"}) {
    Graph g = loadModel(model);
    Graph step = buildTrainStep(g);
    std::string why;
    EXPECT_FALSE(planShards(step, {step.loss}, &why)) << model;
    EXPECT_NE(why.find("reads a value computed from the whole batch"), std::string::npos) << why;
    Graph inf = buildInference(g);
    EXPECT_TRUE(planShards(inf, outputsAndLosses(inf), &why)) << model << ": " << why;
    EXPECT_TRUE(matchesReference(inf, kVocab, outputsAndLosses(inf), kBatch, 44, 8, 1, {}, 1e-6, 2)) << model;
  }
}

// Dice normalises with batch statistics: its training step has no split, but its inference
// (running statistics) does.
TEST(Sharding, BatchNormTrainingStepsRunWhole) {
  for (const char* model : {"din", "din_plus"}) {
    Graph g = loadModel(model);
    Graph step = buildTrainStep(g);
    std::string why;
    EXPECT_FALSE(planShards(step, {step.loss}, &why)) << model;
    EXPECT_NE(why.find("batch_norm [B,"), std::string::npos) << why;
    EXPECT_NE(why.find("normalises with statistics over the batch"), std::string::npos) << why;
    Graph inf = buildInference(g);
    EXPECT_TRUE(planShards(inf, outputsAndLosses(inf), &why)) << model << ": " << why;
    EXPECT_TRUE(matchesReference(inf, kVocab, outputsAndLosses(inf), kBatch, 44, 8, 1, {}, 1e-6, 2)) << model;
    // Refused plans still compile and train, unsharded.
    EXPECT_TRUE(matchesReference(step, kVocab, {step.loss}, kBatch, 43, 8, 1, {0, 0.05f, 0.9f, 0.999f, 1e-8f, 0.01f, 1},
                                 1e-6, 2));
  }
}

TEST(Sharding, ReductionsThatAreNotSumsOverTheBatchAreRefused) {
  TestGraph t;
  ValueId x = t.dense(4);
  ValueId m = t.op(OpKind::Max, {x}, Attrs().set("axis", int64_t{0}).set("keepdims", int64_t{0}));
  std::string why;
  EXPECT_FALSE(planShards(t.g, {m}, &why));
  EXPECT_EQ(why, "max [4] reduces over the batch (not a sum)");

  TestGraph s;
  ValueId y = s.dense(4);
  ValueId sm = s.op(OpKind::Softmax, {y}, Attrs().set("axis", int64_t{0}));
  EXPECT_FALSE(planShards(s.g, {sm}, &why));
  EXPECT_EQ(why, "softmax [B,4] normalises along the batch axis");
}

// A value computed from the whole batch (a mean over it) that flows back into the rows needs
// every shard's rows first.
TEST(Sharding, WholeBatchValuesFeedingRowsAreRefused) {
  TestGraph t;
  ValueId x = t.dense(4);
  ValueId mean = t.op(OpKind::Mean, {x}, Attrs().set("axis", int64_t{0}).set("keepdims", int64_t{1}));
  ValueId centred = t.op(OpKind::Sub, {x, mean});
  std::string why;
  EXPECT_FALSE(planShards(t.g, {centred}, &why));
  EXPECT_EQ(why, "sub [B,4] reads a value computed from the whole batch");
}

// Means over the batch divide by the whole batch's size in every shard; sums over it add up.
TEST(Sharding, MeansAndSumsOverTheBatchMatchReference) {
  TestGraph t;
  ValueId x = t.dense(4);
  ValueId w = t.param({4, 3});
  ValueId h = t.op(OpKind::Tanh, {t.op(OpKind::MatMul, {x, w})});
  ValueId mean = t.op(OpKind::Mean, {h}, Attrs().set("axis", int64_t{0}).set("keepdims", int64_t{0}));
  ValueId sum = t.op(OpKind::Sum, {h}, Attrs().set("axis", int64_t{0}).set("keepdims", int64_t{1}));
  ValueId gram = t.op(OpKind::MatMul, {h, h}, Attrs().set("ta", int64_t{1}));
  ValueId scaled = t.op(OpKind::Mul, {mean, t.op(OpKind::BatchSize, {})});
  std::string why;
  auto plan = planShards(t.g, {mean, sum, gram, scaled, h}, &why);
  ASSERT_TRUE(plan) << why;
  EXPECT_EQ(plan->cuts, 3u);
  EXPECT_TRUE(plan->batchParam);
  for (int shards : {2, 3, 4})
    EXPECT_TRUE(matchesReference(t.g, t.vocab, {mean, sum, gram, scaled, h}, kBatch, 5, 8, 1, {}, 1e-6, shards))
        << shards;
}

}  // namespace
}  // namespace recc::test
