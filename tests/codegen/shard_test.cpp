// Sharded runs (compiler/codegen/Sharding.h): which graphs split and why not, and every zoo
// model's forward outputs, gradients and training steps run in shards against the reference
// evaluator on the whole batch (dropout masks included: shards draw the whole batch's mask).
#include "compiler/codegen/Sharding.h"
#include "compiler/codegen/Fusion.h"
#include "compiler/frontend/Frontend.h"
#include "compiler/ir/Verifier.h"
#include "compiler/passes/Autodiff.h"
#include "compiler/passes/Hoisting.h"
#include "tests/codegen/JitHarness.h"

namespace recc::test {
namespace {

const std::map<std::string, int64_t> kVocab = {{"user", 30}, {"movie", 60}, {"year", 20}, {"genre", 22}};

Graph loadModel(const std::string& name) { return loadZooModel(name, kVocab); }

std::vector<ValueId> outputsAndLosses(const Graph& g) {
  std::vector<ValueId> fetches;
  for (const NamedValue& o : g.outputs) fetches.push_back(o.value);
  for (const LossTerm& l : g.losses) fetches.push_back(l.value);
  return fetches;
}

// The inference graph as the JIT runs it per batch: parameter-only values hoisted into derived
// parameters (passes/Hoisting.h), which get random values here (the same for JIT and reference).
Graph servingGraph(const std::string& model) {
  Graph inf = buildInference(loadModel(model));
  std::vector<ValueId> outs = outputValues(inf);
  hoistParameterOnly(inf, outs);
  for (ParamDecl& p : inf.params)
    if (p.derived) {
      p.init = "normal";
      p.scale = 0.1;
    }
  return inf;
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

// Inference: each shard runs its rows in tiles, here of one row.
TEST_P(ShardedZoo, InferenceInRowTilesMatchesReference) {
  Graph inf = servingGraph(GetParam());
  EXPECT_TRUE(matchesReference(inf, kVocab, outputValues(inf), kBatch, 23, 8, 1, {}, 1e-6, 2, 1));
  EXPECT_TRUE(matchesReference(inf, kVocab, outputValues(inf), kBatch, 24, 8, 1, {}, 1e-6, 3, 1));
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
  auto plan = planShards(step, {step.loss}, &why);
  ASSERT_TRUE(plan) << why;
  // Both parts are well-formed graphs (SSA order, arity, shapes re-derived by the shape rules).
  EXPECT_NO_THROW(verify(plan->rows));
  EXPECT_NO_THROW(verify(plan->whole));
  ReccOptimizer sgd{0, 0.05f, 0.9f, 0.999f, 1e-8f, 0.01f, 1};
  EXPECT_TRUE(matchesReference(step, kVocab, {step.loss}, kBatch, 41, 8, 3, sgd, 1e-6, 2));
  EXPECT_TRUE(matchesReference(step, kVocab, {step.loss}, kBatch, 42, 8, 2, sgd, 1e-6, 3));
  // Shards of 4 and 3 rows in tiles of 2: the sums over the batch add up tile by tile.
  Graph small = buildTrainStep(loadModel(GetParam()), 8);
  EXPECT_TRUE(matchesReference(small, kVocab, {small.loss}, kBatch, 43, 8, 2, sgd, 1e-6, 2, 2));
}

INSTANTIATE_TEST_SUITE_P(Models, ShardedZoo,
                         ::testing::Values("als_mlp", "als_concat", "embedding_mlp", "fnn", "wide_deep", "deepfm",
                                           "cnn", "afm", "nfm", "pnn", "dcn", "rnn", "rnn_als", "base_sequential",
                                           "bst", "transformer_encoder", "din", "din_plus", "rnn_history",
                                           "transformer4rec"));

// The rows graph of a tiled graph is compiled for its tile: a smaller arena than for whole
// shards. DIN's training step (Dice's batch statistics: a barrier) is never tiled, nor a step
// that multiplies a table (a user tower sunk at batch 1024: every tile would repeat it).
TEST(Sharding, RowTilesShrinkTheArenaWithoutBarriers) {
  auto arena = [](const Graph& x, const std::vector<ValueId>& fetches, int64_t tileBytes) {
    CodegenOptions o;
    o.maxBatch = 64;
    o.shards = 2;
    o.minShardRows = 1;
    o.tileBytes = tileBytes;
    o.minTileRows = 1;
    return CompiledGraph::compile(x, fetches, o)->plan().arenaBytes;
  };
  for (const char* model : {"fnn", "din"}) {
    Graph g = loadModel(model);
    Graph inf = servingGraph(model), step = buildTrainStep(g, 8);
    EXPECT_LT(arena(inf, outputValues(inf), 1), arena(inf, outputValues(inf), 0)) << model;
    if (std::string(model) == "din") EXPECT_EQ(arena(step, {step.loss}, 1), arena(step, {step.loss}, 0));
    else EXPECT_LT(arena(step, {step.loss}, 1), arena(step, {step.loss}, 0)) << model;
  }
  Graph sunk = buildTrainStep(loadModel("als_mlp"));
  EXPECT_EQ(arena(sunk, {sunk.loss}, 1), arena(sunk, {sunk.loss}, 0));
}

// Adam divides by sqrt(v): a gradient of ~1e-8 (all rounding, which differs with the order of
// the sums) moves a weight by up to lr, so weights are compared to 1% of one step.
TEST(Sharding, AdamWTrainingStepsOfFieldModelsMatchReference) {
  for (const char* model : {"als_mlp", "fnn", "wide_deep", "deepfm"}) {
    Graph step = buildTrainStep(loadModel(model));
    ReccOptimizer adamw{2, 0.01f, 0.9f, 0.999f, 1e-8f, 0.01f, 1};
    EXPECT_TRUE(matchesReference(step, kVocab, {step.loss}, kBatch, 42, 8, 3, adamw, 1e-2 * 0.01, 2)) << model;
  }
}

// Statistics over the whole batch that rows read back are summed across the shards in the
// pass: Dice's batch norm (its kernel sums its statistics, its gradient's means use
// shard_sum), and losses averaged over the valid positions of the whole batch (masked_loss).
TEST(Sharding, StatisticsOverTheBatchAreSummedAcrossShards) {
  for (const char* model : {"din", "din_plus", "rnn_history", "transformer4rec"}) {
    Graph step = buildTrainStep(loadModel(model));
    std::string why;
    auto plan = planShards(step, {step.loss}, &why);
    ASSERT_TRUE(plan) << model << ": " << why;
    EXPECT_TRUE(plan->barriers) << model;
    bool shardSum = false;
    for (const Node& n : plan->rows.nodes) shardSum |= n.op == OpKind::ShardSum;
    EXPECT_TRUE(shardSum) << model;
    // 2 shards run on the pool's two threads; 3 on threads of their own (more than the pool).
    ReccOptimizer sgd{0, 0.05f, 0.9f, 0.999f, 1e-8f, 0.01f, 1};
    EXPECT_TRUE(matchesReference(step, kVocab, {step.loss}, kBatch, 43, 8, 2, sgd, 1e-6, 2)) << model;
    EXPECT_TRUE(matchesReference(step, kVocab, {step.loss}, kBatch, 44, 8, 1, sgd, 1e-6, 3)) << model;
    Graph inf = buildInference(loadModel(model));
    EXPECT_TRUE(matchesReference(inf, kVocab, outputsAndLosses(inf), kBatch, 45, 8, 1, {}, 1e-6, 2)) << model;
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

// A mean over the batch that rows read back: summed across the shards in the pass, then
// every shard centres its rows with the whole batch's mean.
TEST(Sharding, WholeBatchValuesFeedingRowsAreSummedInThePass) {
  TestGraph t;
  ValueId x = t.dense(4);
  ValueId mean = t.op(OpKind::Mean, {x}, Attrs().set("axis", int64_t{0}).set("keepdims", int64_t{1}));
  ValueId centred = t.op(OpKind::Sub, {x, mean});
  std::string why;
  auto plan = planShards(t.g, {centred}, &why);
  ASSERT_TRUE(plan) << why;
  EXPECT_TRUE(plan->barriers);
  for (int shards : {2, 3})
    EXPECT_TRUE(matchesReference(t.g, t.vocab, {centred}, kBatch, 5, 8, 1, {}, 1e-6, shards)) << shards;
}

// An embedding gradient is summed once over the whole batch, after the shards: rows cannot
// read it.
TEST(Sharding, RowsReadingAnEmbeddingGradientAreRefused) {
  TestGraph t;
  ValueId ids = t.ids("user", 10, 0);
  ValueId table = t.param({10, 4});
  ValueId rows = t.op(OpKind::Gather, {table, ids});
  ValueId grad = t.op(OpKind::ScatterAdd, {ids, rows}, Attrs().set("shape", Shape{10, 4}));
  ValueId back = t.op(OpKind::Gather, {grad, ids});
  std::string why;
  EXPECT_FALSE(planShards(t.g, {back}, &why));
  EXPECT_EQ(why, "gather [B,4] reads the result of an update or embedding gradient");
}

// The gradient of a multi-hot field's summed lookups is one row per sample, repeated over its
// ids for the scatter_add: the shards export the rows once, and the kernel reads each once per
// id, so the repeated copy is neither copied out nor stored.
TEST(Sharding, RepeatedGradientsOfMultiHotFieldsAreReadFromTheirRows) {
  TestGraph t;
  ValueId ids = t.ids("genre", 10, 3);
  ValueId g = t.op(OpKind::Tanh, {t.dense(4)});
  ValueId one = t.op(OpKind::Reshape, {g}, Attrs().set("shape", Shape{kB, 1, 4}));
  ValueId repeated = t.op(OpKind::BroadcastTo, {one}, Attrs().set("shape", Shape{kB, 3, 4}));
  ValueId grad = t.op(OpKind::ScatterAdd, {ids, repeated}, Attrs().set("shape", Shape{10, 4}));
  EXPECT_EQ(repeatedGradientSource(t.g, grad), one);
  std::string why;
  auto plan = planShards(t.g, {grad}, &why);
  ASSERT_TRUE(plan) << why;
  EXPECT_EQ(plan->exports, 1u) << "tanh's rows only";
  EXPECT_EQ(plan->whole.inputs.back().length, 4);
  const FusionPlan whole = planFusion(plan->whole, plan->wholeFetches);
  int repeats = 0;
  for (size_t i = 0; i < plan->whole.nodes.size(); ++i) {
    if (plan->whole.nodes[i].op != OpKind::BroadcastTo) continue;
    ++repeats;
    EXPECT_FALSE(whole.materialized[i]);
  }
  EXPECT_EQ(repeats, 1) << "repeated in the whole-batch part";
  EXPECT_FALSE(planFusion(t.g, {grad}).materialized[static_cast<size_t>(repeated)]);
  EXPECT_TRUE(matchesReference(t, {grad}));
  for (int shards : {2, 3})
    EXPECT_TRUE(matchesReference(t.g, t.vocab, {grad}, kBatch, 5, 8, 1, {}, 1e-6, shards)) << shards;
}

// Row-sparse updates (bench/sparse.rec, `embedding(..., sparse = true)`) read the ids and
// the gradient rows of the whole batch: the shards export their rows to one buffer.
TEST(Sharding, SparseUpdatesReadEveryShardsRows) {
  Graph g = buildModel(std::string(RECC_SOURCE_DIR) + "/bench/sparse.rec");
  const std::map<std::string, int64_t> vocab = {{"item", 40}, {"cat", 7}};
  bindVocabularies(g, vocab);
  Graph step = buildTrainStep(g);
  bool sparse = false;
  for (const Node& n : step.nodes) sparse |= n.op == OpKind::SparseUpdate;
  ASSERT_TRUE(sparse);
  std::string why;
  auto plan = planShards(step, {step.loss}, &why);
  ASSERT_TRUE(plan) << why;
  EXPECT_GT(plan->exports, 0u);
  EXPECT_NO_THROW(verify(plan->whole));
  ReccOptimizer adamw{2, 0.01f, 0.9f, 0.999f, 1e-8f, 0.0f, 1};
  EXPECT_TRUE(matchesReference(step, vocab, {step.loss}, kBatch, 46, 8, 3, adamw, 1e-2 * 0.01, 2));
  EXPECT_TRUE(matchesReference(step, vocab, {step.loss}, kBatch, 47, 8, 2, adamw, 1e-2 * 0.01, 3));
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
