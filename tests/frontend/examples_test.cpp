// The walkthrough's models (docs/authoring.md, docs/examples/) build, with the zoo's std library
// on the include path as `recc ... -I zoo` puts it.
#include <gtest/gtest.h>

#include "compiler/frontend/Frontend.h"

using namespace recc;

namespace {

Graph example(const std::string& name) {
  FrontendOptions o;
  o.includePaths = {std::string(RECC_SOURCE_DIR) + "/zoo"};
  return buildModel(std::string(RECC_SOURCE_DIR) + "/docs/examples/" + name, o);
}

Shape named(const Graph& g, const std::string& n) {
  for (const NamedValue& v : g.named)
    if (v.name == n) return g.at(v.value).shape;
  ADD_FAILURE() << "no named value " << n;
  return {};
}

bool hasParam(const Graph& g, const std::string& n) {
  for (const ParamDecl& p : g.params)
    if (p.name == n) return true;
  return false;
}

}  // namespace

TEST(Examples, LikedTwoTower) {
  Graph g = example("liked_two_tower.rec");
  EXPECT_EQ(named(g, "liked"), (Shape{kB, 32}));
  EXPECT_EQ(named(g, "user"), (Shape{kB, 32}));
  EXPECT_EQ(named(g, "logit"), Shape{kB});
  EXPECT_TRUE(hasParam(g, "user.dense1.w"));
}

TEST(Examples, DinBilinear) {
  Graph g = example("din_bilinear.rec");
  EXPECT_EQ(named(g, "scores"), (Shape{kB, 20}));
  EXPECT_EQ(named(g, "interest"), (Shape{kB, 32}));
  EXPECT_TRUE(hasParam(g, "scores.dense0.w"));
  EXPECT_FALSE(hasParam(g, "scores.dense0.b"));
}

TEST(Examples, LstmRec) {
  Graph g = example("lstm_rec.rec");
  EXPECT_EQ(named(g, "user"), (Shape{kB, 32}));
  int lstm = 0;
  for (const ParamDecl& p : g.params) lstm += p.name.rfind("both.", 0) == 0;
  EXPECT_EQ(lstm, 3);  // one cell for all 20 steps: W, b, U
}

TEST(Examples, WithoutTheIncludePathTheImportIsAnError) {
  try {
    buildModel(std::string(RECC_SOURCE_DIR) + "/docs/examples/din_bilinear.rec");
    FAIL() << "expected an import error";
  } catch (const DiagError& e) {
    EXPECT_NE(e.message().find("std/nn.rec"), std::string::npos) << e.message();
    EXPECT_EQ(e.loc().line, 4);
  }
}
