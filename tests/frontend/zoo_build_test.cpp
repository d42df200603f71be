// Every zoo model builds and verifies; key shapes and parameter names are what the docs promise.
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <map>

#include "compiler/frontend/Frontend.h"

using namespace recc;

namespace {

std::string zoo(const std::string& name) { return std::string(RECC_SOURCE_DIR) + "/zoo/" + name; }

Shape shapeOf(const Graph& g, const std::string& n) {
  for (const NamedValue& v : g.named)
    if (v.name == n) return g.at(v.value).shape;
  ADD_FAILURE() << "no named value " << n;
  return {};
}

const ParamDecl* param(const Graph& g, const std::string& n) {
  for (const ParamDecl& p : g.params)
    if (p.name == n) return &p;
  return nullptr;
}

Shape BD(std::vector<Dim> rest) {
  Shape s{kB};
  s.insert(s.end(), rest.begin(), rest.end());
  return s;
}

void expectLogitModel(const Graph& g) {
  EXPECT_EQ(shapeOf(g, "logit"), Shape{kB});
  ASSERT_EQ(g.outputs.size(), 1u);
  EXPECT_EQ(g.outputs[0].name, "prob");
  EXPECT_EQ(g.at(g.outputs[0].value).op, OpKind::Sigmoid);
  ASSERT_GE(g.losses.size(), 1u);  // auxiliary losses come with weights
  for (const LossTerm& l : g.losses) EXPECT_TRUE(g.at(l.value).shape.empty());
  // The zoo's defaults: AdamW, lr 1e-3, batch 1024 (epochs: 3, or fewer where a model overfits).
  std::map<std::string, std::string> train(g.train.begin(), g.train.end());
  EXPECT_EQ(train["optimizer"], "adamw");
  EXPECT_EQ(train["lr"], "0.001");
  EXPECT_EQ(train["batch"], "1024");
  EXPECT_TRUE(train["epochs"] == "2" || train["epochs"] == "3") << train["epochs"];
}

int countParams(const Graph& g, const std::string& prefix) {
  int n = 0;
  for (const ParamDecl& p : g.params) n += p.name.rfind(prefix, 0) == 0;
  return n;
}

int countOps(const Graph& g, OpKind op) {
  int n = 0;
  for (const Node& x : g.nodes) n += x.op == op;
  return n;
}

/// The sequence inputs every sequence model declares: one movie vocabulary for history and target.
void expectSequenceInputs(const Graph& g) {
  int hist = g.inputIndex("hist_items"), target = g.inputIndex("target_item");
  ASSERT_GE(hist, 0);
  ASSERT_GE(target, 0);
  EXPECT_EQ(g.inputs[static_cast<size_t>(hist)].kind, InputKind::Ids);
  EXPECT_EQ(g.inputs[static_cast<size_t>(hist)].length, 20);
  EXPECT_EQ(g.inputs[static_cast<size_t>(hist)].vocab, "movie");
  EXPECT_EQ(g.inputs[static_cast<size_t>(target)].vocab, "movie");
  EXPECT_TRUE(param(g, "emb.movie"));
  EXPECT_FALSE(param(g, "emb.movie_1"));
}

}  // namespace

TEST(ZooBuild, DeepFM) {
  Graph g = buildModel(zoo("deepfm.rec"));
  EXPECT_EQ(g.model, "DeepFM");
  EXPECT_EQ(shapeOf(g, "v"), BD({4, 32}));
  EXPECT_EQ(shapeOf(g, "linear"), Shape{kB});
  EXPECT_EQ(shapeOf(g, "deep"), BD({1}));
  EXPECT_EQ(shapeOf(g, "logit"), Shape{kB});
  const ParamDecl* movie = param(g, "emb.movie");
  ASSERT_TRUE(movie);
  EXPECT_TRUE(movie->embedding);
  EXPECT_EQ(movie->init, "normal");
  EXPECT_LE(movie->scale, 0.05);
  EXPECT_EQ(movie->shape, (Shape{Dim::sym_("|movie|"), 32}));
  ASSERT_TRUE(param(g, "w.genre"));
  EXPECT_EQ(param(g, "w.genre")->shape, (Shape{Dim::sym_("|genre|"), 1}));
  ASSERT_TRUE(param(g, "deep.dense0.w"));
  EXPECT_EQ(param(g, "deep.dense0.w")->shape, (Shape{128, 256}));
  EXPECT_EQ(param(g, "deep.dense2.w")->shape, (Shape{128, 1}));
  EXPECT_EQ(param(g, "deep.dense2.b")->shape, (Shape{1}));
  EXPECT_EQ(param(g, "deep.dense0.w")->init, "uniform");
  EXPECT_DOUBLE_EQ(param(g, "deep.dense0.w")->scale, 1 / std::sqrt(128.0));
  EXPECT_TRUE(param(g, "linear.param0"));
  EXPECT_EQ(g.params.size(), 15u);  // 4 + 4 tables, the bias, 3 dense layers x (w, b)
  EXPECT_EQ(g.inputs.size(), 5u);
  EXPECT_EQ(g.inputs[3].kind, InputKind::Ids);
  EXPECT_EQ(g.inputs[3].length, 6);
  EXPECT_EQ(g.inputs[4].kind, InputKind::Label);
  ASSERT_GE(g.hyper.size(), 3u);
  EXPECT_EQ(g.hyper[0], (std::pair<std::string, std::string>{"dim", "32"}));
  EXPECT_EQ(g.hyper[1], (std::pair<std::string, std::string>{"hidden", "[256, 128]"}));
  EXPECT_EQ(g.hyper[2], (std::pair<std::string, std::string>{"max_norm", "0.0"}));
  EXPECT_NE(g.sourceHash, 0u);
  expectLogitModel(g);
}

TEST(ZooBuild, DeepFMOverrides) {
  FrontendOptions o;
  o.overrides = {{"dim", "8"}, {"hidden", "[16]"}};
  Graph g = buildModel(zoo("deepfm.rec"), o);
  EXPECT_EQ(shapeOf(g, "v"), BD({4, 8}));
  EXPECT_EQ(param(g, "deep.dense0.w")->shape, (Shape{32, 16}));
  EXPECT_EQ(param(g, "deep.dense1.w")->shape, (Shape{16, 1}));
  EXPECT_FALSE(param(g, "deep.dense2.w"));
  EXPECT_EQ(g.hyper[0].second, "8");
}

TEST(ZooBuild, AlsMlp) {
  Graph g = buildModel(zoo("als_mlp.rec"));
  EXPECT_EQ(shapeOf(g, "user"), BD({128}));
  EXPECT_EQ(shapeOf(g, "item"), BD({128}));
  EXPECT_TRUE(param(g, "emb.user") && param(g, "emb.movie"));
  EXPECT_TRUE(param(g, "user.dense1.w") && param(g, "item.dense1.w"));
  EXPECT_FALSE(param(g, "user.dense2.w"));
  expectLogitModel(g);
}

TEST(ZooBuild, AlsConcat) {
  Graph g = buildModel(zoo("als_concat.rec"));
  EXPECT_EQ(shapeOf(g, "x"), BD({64}));
  EXPECT_EQ(param(g, "deep.dense0.w")->shape, (Shape{64, 256}));
  expectLogitModel(g);
}

TEST(ZooBuild, EmbeddingMlp) {
  Graph g = buildModel(zoo("embedding_mlp.rec"));
  EXPECT_EQ(shapeOf(g, "x"), BD({128}));
  EXPECT_EQ(g.params.size(), 4u + 6u);
  expectLogitModel(g);
}

TEST(ZooBuild, Fnn) {
  Graph g = buildModel(zoo("fnn.rec"));
  EXPECT_EQ(shapeOf(g, "v"), BD({4, 32}));
  EXPECT_EQ(shapeOf(g, "x"), BD({160}));
  EXPECT_EQ(param(g, "deep.dense0.w")->shape, (Shape{160, 256}));
  expectLogitModel(g);
}

TEST(ZooBuild, WideDeep) {
  Graph g = buildModel(zoo("wide_deep.rec"));
  EXPECT_EQ(shapeOf(g, "wide"), Shape{kB});
  EXPECT_EQ(param(g, "w.user")->shape, (Shape{Dim::sym_("|user|"), 1}));
  EXPECT_TRUE(param(g, "wide.param0"));
  EXPECT_EQ(param(g, "deep.dense0.w")->shape, (Shape{128, 256}));
  expectLogitModel(g);
}

TEST(ZooBuild, SourceHashCoversImports) {
  // The same model text with a different import changes the hash; identical inputs agree.
  Graph a = buildModel(zoo("als_concat.rec"));
  Graph b = buildModel(zoo("als_concat.rec"));
  EXPECT_EQ(a.sourceHash, b.sourceHash);
  Graph c = buildModel(zoo("embedding_mlp.rec"));
  EXPECT_NE(a.sourceHash, c.sourceHash);
}

// ---- the rest of chapter 3 ----

TEST(ZooBuild, EveryZooFileBuildsAndVerifies) {
  // buildModel verifies the graph; every model has one sigmoid output `prob`, a scalar loss.
  int n = 0;
  for (const auto& e : std::filesystem::directory_iterator(std::string(RECC_SOURCE_DIR) + "/zoo")) {
    if (e.path().extension() != ".rec") continue;
    SCOPED_TRACE(e.path().filename().string());
    Graph g = buildModel(e.path().string());
    expectLogitModel(g);
    ++n;
  }
  EXPECT_GE(n, 20);
}

TEST(ZooBuild, Cnn) {
  Graph g = buildModel(zoo("cnn.rec"));
  EXPECT_EQ(shapeOf(g, "maps"), BD({3, 64}));
  EXPECT_EQ(param(g, "maps.conv1d0.w")->shape, (Shape{2, 32, 64}));
  EXPECT_EQ(countOps(g, OpKind::Conv1d), 1);
}

TEST(ZooBuild, RnnFamilySharesOneCellAcrossSteps) {
  Graph g = buildModel(zoo("rnn.rec"));
  expectSequenceInputs(g);
  EXPECT_EQ(shapeOf(g, "xs"), BD({21, 32}));   // history + target
  EXPECT_EQ(shapeOf(g, "hs"), BD({21, 64}));
  EXPECT_EQ(countParams(g, "hs."), 3);          // W, b, U of the one Elman cell
  EXPECT_EQ(countOps(g, OpKind::Tanh), 21);
  FrontendOptions o;
  o.overrides = {{"cell", "gru_cell"}};
  Graph gru = buildModel(zoo("rnn.rec"), o);
  EXPECT_EQ(countParams(gru, "hs."), 4);        // input and state projections (w, b each)
  EXPECT_EQ(param(gru, "hs.masked_step0.gru_cell0.dense0.w")->shape, (Shape{32, 192}));

  Graph als = buildModel(zoo("rnn_als.rec"));
  EXPECT_EQ(shapeOf(als, "user"), BD({32}));
  EXPECT_EQ(shapeOf(als, "logit"), Shape{kB});

  Graph hist = buildModel(zoo("rnn_history.rec"));
  EXPECT_EQ(hist.losses.size(), 2u);
  EXPECT_DOUBLE_EQ(hist.losses[1].weight, 0.5);
  EXPECT_EQ(shapeOf(hist, "aux"), BD({19}));
}

TEST(ZooBuild, FmFamily) {
  Graph afm = buildModel(zoo("afm.rec"));
  EXPECT_EQ(shapeOf(afm, "pairs"), BD({6, 32}));
  EXPECT_EQ(shapeOf(afm, "a"), BD({6, 1}));
  EXPECT_EQ(countOps(afm, OpKind::Softmax), 1);
  Graph nfm = buildModel(zoo("nfm.rec"));
  EXPECT_EQ(shapeOf(nfm, "bi"), BD({32}));
  Graph pnn = buildModel(zoo("pnn.rec"));
  EXPECT_EQ(shapeOf(pnn, "p"), BD({6}));
  EXPECT_EQ(param(pnn, "deep.dense0.w")->shape, (Shape{4 * 32 + 6, 256}));
  Graph dcn = buildModel(zoo("dcn.rec"));
  EXPECT_EQ(shapeOf(dcn, "cross"), BD({128}));
  EXPECT_EQ(countParams(dcn, "cross."), 6);     // 3 layers x (w, b)
}

TEST(ZooBuild, BaseSequentialAndDin) {
  Graph base = buildModel(zoo("base_sequential.rec"));
  expectSequenceInputs(base);
  EXPECT_EQ(shapeOf(base, "mask"), BD({20}));
  EXPECT_EQ(shapeOf(base, "hist"), BD({32}));

  Graph din = buildModel(zoo("din.rec"));
  expectSequenceInputs(din);
  EXPECT_EQ(shapeOf(din, "interest"), BD({32}));
  EXPECT_EQ(param(din, "interest.din_scores0.dense0.w")->shape, (Shape{128, 80}));  // [h, t, h-t, h*t]
  EXPECT_EQ(countOps(din, OpKind::Softmax), 0);  // sum pooling, as in the paper
  EXPECT_GE(countOps(din, OpKind::BatchMoments), 4);  // Dice in the attention unit and the MLP
  EXPECT_TRUE(param(din, "deep.dice0.batch_norm0.running_mean"));

  Graph plus = buildModel(zoo("din_plus.rec"));
  EXPECT_TRUE(param(plus, "emb.user") && param(plus, "emb.genre") && param(plus, "bias.user"));
}

TEST(ZooBuild, Dien) {
  Graph g = buildModel(zoo("dien.rec"));
  expectSequenceInputs(g);
  EXPECT_EQ(shapeOf(g, "hs"), BD({20, 32}));
  EXPECT_EQ(shapeOf(g, "a"), BD({20}));
  EXPECT_EQ(shapeOf(g, "final"), BD({32}));
  EXPECT_EQ(countParams(g, "hs."), 4);      // one GRU cell
  EXPECT_EQ(countParams(g, "final."), 4);   // one AUGRU cell
  ASSERT_EQ(g.losses.size(), 2u);
  EXPECT_DOUBLE_EQ(g.losses[0].weight, 0.5);  // the auxiliary loss comes first
}

TEST(ZooBuild, Transformers) {
  Graph enc = buildModel(zoo("transformer_encoder.rec"));
  expectSequenceInputs(enc);
  EXPECT_EQ(shapeOf(enc, "enc"), BD({20, 32}));
  EXPECT_EQ(countOps(enc, OpKind::LayerNorm), 4);    // 2 layers x 2
  EXPECT_EQ(countOps(enc, OpKind::Softmax), 2);
  EXPECT_EQ(countOps(enc, OpKind::PositionalEncoding), 1);

  Graph bst = buildModel(zoo("bst.rec"));
  EXPECT_EQ(shapeOf(bst, "seq"), BD({21, 32}));
  EXPECT_EQ(shapeOf(bst, "mask"), BD({21}));
  EXPECT_EQ(param(bst, "deep.dense0.w")->shape, (Shape{21 * 32, 256}));
  EXPECT_GE(countOps(bst, OpKind::LeakyRelu), 2);

  Graph t4r = buildModel(zoo("transformer4rec.rec"));
  EXPECT_EQ(shapeOf(t4r, "dec"), BD({20, 32}));
  EXPECT_EQ(t4r.losses.size(), 2u);
  EXPECT_EQ(countOps(t4r, OpKind::Softmax), 3);   // encoder self, decoder self and cross attention
}
