// Every language construct: parsed into the AST with locations, and built into the graph.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "compiler/frontend/Frontend.h"
#include "compiler/frontend/Parser.h"

using namespace recc;

namespace {

Graph build(const std::string& src, const FrontendOptions& o = {}) { return buildModelFromString(src, "t.rec", o); }

const NamedValue& named(const Graph& g, const std::string& n) {
  for (const NamedValue& v : g.named)
    if (v.name == n) return v;
  throw std::runtime_error("no named value " + n);
}
Shape shapeOf(const Graph& g, const std::string& n) { return g.at(named(g, n).value).shape; }

std::vector<std::string> paramNames(const Graph& g) {
  std::vector<std::string> out;
  for (const ParamDecl& p : g.params) out.push_back(p.name);
  return out;
}

std::string hyper(const Graph& g, const std::string& k) {
  for (const auto& [n, v] : g.hyper)
    if (n == k) return v;
  return "<none>";
}

}  // namespace

TEST(Parser, AstCarriesLocations) {
  auto m = parseModule("# c\nimport \"a.rec\"\ndef f(x, y = 2) {\n  return x\n}\nmodel M(d = 4) {\n  z = f(1, y = 3)\n}\n",
                       "t.rec");
  ASSERT_EQ(m->imports.size(), 1u);
  EXPECT_EQ(m->imports[0].path, "a.rec");
  EXPECT_EQ(m->imports[0].loc.line, 2);
  EXPECT_EQ(m->imports[0].loc.col, 8);
  ASSERT_EQ(m->defs.size(), 1u);
  EXPECT_EQ(m->defs[0]->name, "f");
  EXPECT_EQ(m->defs[0]->params.size(), 2u);
  EXPECT_TRUE(m->defs[0]->params[1].def);
  ASSERT_EQ(m->models.size(), 1u);
  const ast::Stmt& s = *m->models[0]->body[0];
  EXPECT_EQ(s.kind, ast::StmtKind::Assign);
  EXPECT_EQ(s.loc.line, 7);
  EXPECT_EQ(s.loc.col, 3);
  const ast::Expr& call = *s.value;
  EXPECT_EQ(call.kind, ast::ExprKind::Call);
  EXPECT_EQ(call.loc.col, 7);
  ASSERT_EQ(call.args.size(), 2u);
  EXPECT_EQ(call.args[1].name, "y");
}

TEST(Parser, PrecedenceAndPipe) {
  // 1 + 2 * 3 groups as 1 + (2 * 3); -a * b as (-a) * b; x |> f(a) is f(x, a).
  auto e = parseExpression("1 + 2 * 3", "e");
  ASSERT_EQ(e->kind, ast::ExprKind::Binary);
  EXPECT_EQ(e->s, "+");
  EXPECT_EQ(e->items[1]->s, "*");
  auto n = parseExpression("-a * b", "e");
  EXPECT_EQ(n->s, "*");
  EXPECT_EQ(n->items[0]->kind, ast::ExprKind::Neg);
  auto p = parseExpression("x |> f(a) |> g", "e");
  ASSERT_EQ(p->kind, ast::ExprKind::Call);
  EXPECT_EQ(p->items[0]->s, "g");
  ASSERT_EQ(p->args.size(), 1u);
  const ast::Expr& inner = *p->args[0].value;
  EXPECT_EQ(inner.items[0]->s, "f");
  ASSERT_EQ(inner.args.size(), 2u);
  EXPECT_EQ(inner.args[0].value->s, "x");
  EXPECT_EQ(inner.args[1].value->s, "a");
  auto l = parseExpression("a ++ [1, 2,]", "e");
  EXPECT_EQ(l->s, "++");
  EXPECT_EQ(l->items[1]->items.size(), 2u);
}

TEST(Parser, Literals) {
  EXPECT_EQ(parseExpression("42", "e")->i, 42);
  EXPECT_DOUBLE_EQ(parseExpression("1e-3", "e")->f, 1e-3);
  EXPECT_DOUBLE_EQ(parseExpression(".5", "e")->f, 0.5);
  EXPECT_DOUBLE_EQ(parseExpression("2.", "e")->f, 2.0);
  EXPECT_EQ(parseExpression("\"a\\\"b\\n\"", "e")->s, "a\"b\n");
  EXPECT_TRUE(parseExpression("true", "e")->b);
  EXPECT_EQ(parseExpression("false", "e")->kind, ast::ExprKind::Bool);
  EXPECT_EQ(parseExpression("xs[:-1]", "e")->kind, ast::ExprKind::Slice);
  EXPECT_EQ(parseExpression("xs[-1]", "e")->kind, ast::ExprKind::Index);
}

TEST(Parser, SyntaxErrorThrowsAtFirstError) {
  try {
    parseModule("model M {\n  x = (1 + \n}\n", "t.rec");
    FAIL();
  } catch (const DiagError& e) {
    EXPECT_EQ(e.loc().line, 3);
    EXPECT_EQ(e.loc().col, 1);
    EXPECT_EQ(e.message(), "expected an expression, found '}'");
  }
}

TEST(Build, InputsOfEveryKind) {
  Graph g = build(R"(model M {
  input u : id<user>
  input h : ids<movie>[5] from "history"
  input a : dense
  input v : dense[4]
  label label : binary from "clicked"
})");
  ASSERT_EQ(g.inputs.size(), 5u);
  EXPECT_EQ(g.inputs[0].kind, InputKind::Id);
  EXPECT_EQ(g.inputs[0].column, "u");
  EXPECT_EQ(g.inputs[1].column, "history");
  EXPECT_EQ(g.inputs[1].length, 5);
  EXPECT_EQ(g.inputs[1].vocab, "movie");
  EXPECT_EQ(g.at(1).shape, (Shape{kB, 5}));
  EXPECT_EQ(g.at(1).dtype, DType::I32);
  EXPECT_EQ(g.inputs[2].kind, InputKind::Dense);
  EXPECT_EQ(g.at(2).shape, Shape{kB});
  EXPECT_EQ(g.at(3).shape, (Shape{kB, 4}));
  EXPECT_EQ(g.inputs[4].kind, InputKind::Label);
  EXPECT_EQ(g.inputs[4].column, "clicked");
  EXPECT_EQ(g.inputs[4].name, "label");
  EXPECT_EQ(g.model, "M");
}

TEST(Build, ConstantFoldingListsAndHyperparameters) {
  Graph g = build(R"(model M(dim = 4, wide = dim * 2 + 1, hidden = [8, 4], act = "relu", r = 1 / 4, on = true) {
  input a : dense[3]
  n = len(hidden ++ [2] ++ hidden[:-1] ++ hidden[1:])
  x = reshape(a, [B, 3 * n - 12])
})");
  EXPECT_EQ(hyper(g, "wide"), "9");
  EXPECT_EQ(hyper(g, "hidden"), "[8, 4]");
  EXPECT_EQ(hyper(g, "act"), "\"relu\"");
  EXPECT_EQ(hyper(g, "r"), "0.25");
  EXPECT_EQ(hyper(g, "on"), "true");
  EXPECT_EQ(shapeOf(g, "x"), (Shape{kB, 3}));  // n = 5: 3*5-12 = 3
  Graph h = build("model M(dim = 8) {\n  input a : dense[2]\n  x = dense(a, dim / 2)\n}\n");
  EXPECT_EQ(shapeOf(h, "x"), (Shape{kB, 4}));  // a whole float is accepted as an int
}

TEST(Build, SetOverridesAreLiterals) {
  FrontendOptions o;
  o.overrides = {{"dim", "6"}, {"hidden", "[5, 3]"}, {"lr", "-1e-2"}};
  Graph g = build(R"(model M(dim = 4, hidden = [8], lr = 0.1) {
  input a : dense[2]
  h = dense(a, dim)
  for u in hidden { h = dense(h, u) }
})", o);
  EXPECT_EQ(hyper(g, "dim"), "6");
  EXPECT_EQ(hyper(g, "hidden"), "[5, 3]");
  EXPECT_EQ(hyper(g, "lr"), "-0.01");
  ASSERT_EQ(g.named.size(), 3u);  // h bound three times: once, then twice in the loop
  EXPECT_EQ(g.named[2].name, "h");
  EXPECT_EQ(g.at(g.named[2].value).shape, (Shape{kB, 3}));
  EXPECT_EQ(g.params[4].name, "h_2.w");  // a rebinding's parameters get a fresh scope
}

TEST(Build, DefsDefaultsForLoopsAndFunctionValues) {
  Graph g = build(R"(
def block(x, units, act = relu, scale = 2) {
  for i, u in units {
    x = act(dense(x, u * scale))
  }
  return x
}
model M {
  input a : dense[3]
  y = block(a, [4, 2], act = tanh)
  z = a |> block([1], scale = 1)
})");
  EXPECT_EQ(shapeOf(g, "y"), (Shape{kB, 4}));
  EXPECT_EQ(g.at(named(g, "y").value).op, OpKind::Tanh);
  EXPECT_EQ(shapeOf(g, "z"), (Shape{kB, 1}));
  EXPECT_EQ(g.at(named(g, "z").value).op, OpKind::Relu);
  EXPECT_EQ(paramNames(g), (std::vector<std::string>{"y.dense0.w", "y.dense0.b", "y.dense1.w", "y.dense1.b",
                                                      "z.dense0.w", "z.dense0.b"}));
}

TEST(Build, ParameterNamesAreHierarchical) {
  Graph g = build(R"(
def inner(x) { return dense(x, 2) }
def outer(x) { return inner(x) + inner(x) }
model M {
  input a : dense[3]
  d = dense(a, 2, bias = false)
  o = outer(a)
  s = relu(outer(a)) + dense(a, 2)
})");
  EXPECT_EQ(paramNames(g), (std::vector<std::string>{
                               "d.w",                                              // own scope
                               "o.inner0.dense0.w", "o.inner0.dense0.b",          // def scopes
                               "o.inner1.dense0.w", "o.inner1.dense0.b",
                               "s.outer0.inner0.dense0.w", "s.outer0.inner0.dense0.b",
                               "s.outer0.inner1.dense0.w", "s.outer0.inner1.dense0.b",
                               "s.dense0.w", "s.dense0.b"}));
}

TEST(Build, EmbeddingTablesAreSharedPerLayerAndVocabulary) {
  Graph g = build(R"(model M(dim = 8) {
  input hist   : ids<movie>[5]
  input target : id<movie>
  input user   : id<user>
  emb = embedding(dim, std = 0.01, max_norm = 1)
  h = sum(emb(hist), axis = 1)
  t = emb(target)
  u = emb(user)
  other = embedding(dim)
  t2 = other(target)
})");
  EXPECT_EQ(paramNames(g), (std::vector<std::string>{"emb.movie", "emb.user", "other.movie"}));
  EXPECT_TRUE(g.params[0].embedding);
  EXPECT_DOUBLE_EQ(g.params[0].scale, 0.01);
  EXPECT_EQ(g.params[0].shape, (Shape{Dim::sym_("|movie|"), 8}));
  const Node& gather = g.at(named(g, "t").value);
  EXPECT_EQ(gather.op, OpKind::Gather);
  EXPECT_DOUBLE_EQ(gather.attrs.f("max_norm"), 1.0);
  EXPECT_EQ(g.at(named(g, "h").value).inputs.size(), 1u);
  EXPECT_EQ(g.at(g.at(named(g, "h").value).inputs[0]).inputs[0], gather.inputs[0]);  // one table
}

TEST(Build, LayoutBuiltins) {
  Graph g = build(R"(model M {
  input a : dense[6]
  input b : dense[6]
  c  = concat([a, b])
  s  = stack([a, b])
  s0 = stack([a, b], axis = -1)
  r  = reshape(a, [B, 2, -1])
  f  = flatten(r)
  u  = unsqueeze(a, 1)
  q  = squeeze(u, axis = -2)
  m  = mean(r, axis = -1, keepdims = true)
  sl = slice(a, 1, 2, -1)
  w  = param([6, 2], init = "normal", scale = 0.1)
  mm = matmul(a, w)
  e  = exp(log(sqrt(sigmoid(a)))) - -a / 2
})");
  EXPECT_EQ(shapeOf(g, "c"), (Shape{kB, 12}));
  EXPECT_EQ(shapeOf(g, "s"), (Shape{kB, 2, 6}));
  EXPECT_EQ(shapeOf(g, "s0"), (Shape{kB, 6, 2}));
  EXPECT_EQ(shapeOf(g, "r"), (Shape{kB, 2, 3}));
  EXPECT_EQ(shapeOf(g, "f"), (Shape{kB, 6}));
  EXPECT_EQ(shapeOf(g, "u"), (Shape{kB, 1, 6}));
  EXPECT_EQ(shapeOf(g, "q"), (Shape{kB, 6}));
  EXPECT_EQ(shapeOf(g, "m"), (Shape{kB, 2, 1}));
  EXPECT_EQ(shapeOf(g, "sl"), (Shape{kB, 3}));
  EXPECT_EQ(g.at(named(g, "sl").value).attrs.i("end"), 5);
  EXPECT_EQ(shapeOf(g, "e"), (Shape{kB, 6}));
  EXPECT_EQ(shapeOf(g, "mm"), (Shape{kB, 2}));
  ASSERT_EQ(g.params.size(), 1u);
  EXPECT_EQ(g.params[0].name, "w");
  EXPECT_EQ(g.params[0].init, "normal");
}

TEST(Build, ScalarsBecomeConstants) {
  Graph g = build("model M {\n  input a : dense\n  x = 2 * a + 0.5\n}\n");
  const Node& add = g.at(named(g, "x").value);
  EXPECT_EQ(add.op, OpKind::Add);
  const Node& half = g.at(add.inputs[1]);
  EXPECT_EQ(half.op, OpKind::Const);
  EXPECT_DOUBLE_EQ(half.attrs.f("value"), 0.5);
  EXPECT_TRUE(half.shape.empty());
  EXPECT_EQ(add.loc.line, 3);
  EXPECT_EQ(add.loc.col, 13);  // the '+'
}

TEST(Build, OutputsLossesAndTrain) {
  Graph g = build(R"(model M {
  input a : dense
  label y : binary
  logit = a * 2
  output prob = sigmoid(logit); output raw = logit
  loss bce_with_logits(logit, y)
  loss mean(a * a, axis = 0), weight = 0.25
  train {
    optimizer = "sgd"
    lr = 0.5, batch = 64,
  }
})");
  ASSERT_EQ(g.outputs.size(), 2u);
  EXPECT_EQ(g.outputs[1].name, "raw");
  EXPECT_EQ(g.outputs[1].value, named(g, "logit").value);
  ASSERT_EQ(g.losses.size(), 2u);
  EXPECT_DOUBLE_EQ(g.losses[0].weight, 1.0);
  EXPECT_DOUBLE_EQ(g.losses[1].weight, 0.25);
  EXPECT_EQ(g.train, (std::vector<std::pair<std::string, std::string>>{
                         {"optimizer", "sgd"}, {"lr", "0.5"}, {"batch", "64"}}));
}

TEST(Build, NamedValuesInOrderAndNodeNames) {
  Graph g = build("model M {\n  input a : dense\n  x = a + 1\n  y = relu(x)\n  x = y * y\n  k = 3\n}\n");
  ASSERT_EQ(g.named.size(), 3u);  // only tensors
  EXPECT_EQ(g.named[0].name, "x");
  EXPECT_EQ(g.named[1].name, "y");
  EXPECT_EQ(g.named[2].name, "x");
  EXPECT_EQ(g.named[2].loc.line, 5);
  EXPECT_EQ(g.at(g.named[1].value).name, "y");
}

TEST(Build, ImportsResolveRelativeThenIncludePaths) {
  namespace fs = std::filesystem;
  fs::path dir = fs::temp_directory_path() / ("recc_parser_test_" + std::to_string(::getpid()));
  fs::create_directories(dir / "lib");
  fs::create_directories(dir / "inc");
  std::ofstream(dir / "lib" / "a.rec") << "import \"b.rec\"\ndef twice(x) { return double(x) }\n";
  std::ofstream(dir / "lib" / "b.rec") << "def double(x) { return x * 2 }\n";
  std::ofstream(dir / "inc" / "c.rec") << "import \"lib/b.rec\"\ndef half(x) { return x / 2 }\n";
  std::ofstream(dir / "m.rec") << "import \"lib/a.rec\"\nimport \"c.rec\"\nmodel M {\n  input a : dense\n"
                                  "  y = half(twice(a))\n}\n";
  FrontendOptions o;
  o.includePaths = {(dir / "inc").string(), dir.string()};
  Graph g = buildModel((dir / "m.rec").string(), o);
  EXPECT_EQ(g.at(named(g, "y").value).op, OpKind::Div);
  // Without the include path, c.rec cannot be found: error at the import's string.
  try {
    buildModel((dir / "m.rec").string());
    ADD_FAILURE();
  } catch (const DiagError& e) {
    EXPECT_EQ(e.loc().line, 2);
    EXPECT_EQ(e.loc().col, 8);
    EXPECT_NE(e.message().find("cannot find import \"c.rec\""), std::string::npos);
  }
  fs::remove_all(dir);
}
