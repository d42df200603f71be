// Every zoo model builds and verifies; key shapes and parameter names are what the docs promise.
#include <gtest/gtest.h>

#include <cmath>

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
  ASSERT_EQ(g.losses.size(), 1u);
  EXPECT_TRUE(g.at(g.losses[0].value).shape.empty());
  EXPECT_EQ(g.train, (std::vector<std::pair<std::string, std::string>>{
                         {"optimizer", "adamw"}, {"lr", "0.001"}, {"batch", "1024"}, {"epochs", "3"}, {"weight_decay", "0.0"}}));
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
  EXPECT_DOUBLE_EQ(movie->scale, 0.05);
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
  EXPECT_EQ(g.hyper, (std::vector<std::pair<std::string, std::string>>{
                         {"dim", "32"}, {"hidden", "[256, 128]"}, {"max_norm", "0.0"}}));
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
