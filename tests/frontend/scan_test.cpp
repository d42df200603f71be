// scan: a recurrence unrolled at build time; every step shares the cell's parameters.
#include <gtest/gtest.h>

#include "compiler/frontend/Frontend.h"

using namespace recc;

namespace {

const std::string kHead =
    "model M(dim = 4) {\n"
    "  input hist : ids<movie>[5]\n"
    "  emb = embedding(3)\n"
    "  xs = emb(hist)\n";

Graph build(const std::string& defs, const std::string& body) {
  return buildModelFromString(defs + kHead + body + "}\n", "t.rec");
}

Shape named(const Graph& g, const std::string& n) {
  for (const NamedValue& v : g.named)
    if (v.name == n) return g.at(v.value).shape;
  ADD_FAILURE() << "no named value " << n;
  return {};
}

int countOps(const Graph& g, OpKind op) {
  int n = 0;
  for (const Node& x : g.nodes) n += x.op == op;
  return n;
}

std::vector<std::string> paramNames(const Graph& g) {
  std::vector<std::string> out;
  for (const ParamDecl& p : g.params) out.push_back(p.name);
  return out;
}

const std::string kCell = "def cell(h, x) { return tanh(dense(x, size(h, -1)) + dense(h, size(h, -1), bias = false)) }\n";

}  // namespace

TEST(Scan, StacksStatesAndSharesWeights) {
  Graph g = build(kCell, "  hs = scan(cell, zeros([B, dim]), xs)\n");
  EXPECT_EQ(named(g, "hs"), (Shape{kB, 5, 4}));
  // One set of weights for the 5 steps: the embedding table plus w, b, u.
  EXPECT_EQ(paramNames(g), (std::vector<std::string>{"emb.movie", "hs.dense0.w", "hs.dense0.b", "hs.dense1.w"}));
  EXPECT_EQ(countOps(g, OpKind::Param), 4);
  EXPECT_EQ(countOps(g, OpKind::MatMul), 10);  // two per step
  EXPECT_EQ(countOps(g, OpKind::Tanh), 5);
}

TEST(Scan, StepsSliceTheTimeAxis) {
  Graph g = build(kCell, "  hs = scan(cell, zeros([B, dim]), xs)\n");
  std::vector<int64_t> begins;
  for (const Node& n : g.nodes)
    if (n.op == OpKind::Slice) {
      EXPECT_EQ(n.attrs.i("axis"), 1);
      EXPECT_EQ(n.attrs.i("end"), n.attrs.i("begin") + 1);
      begins.push_back(n.attrs.i("begin"));
    }
  EXPECT_EQ(begins, (std::vector<int64_t>{0, 1, 2, 3, 4}));
}

TEST(Scan, InsideADefTheScopeIsTheDefs) {
  Graph g = build(kCell + "def rnn(xs, dim) { return scan(cell, zeros([B, dim]), xs) }\n",
                  "  a = rnn(xs, dim)\n  b = rnn(xs, 2)\n");
  EXPECT_EQ(named(g, "b"), (Shape{kB, 5, 2}));
  EXPECT_EQ(paramNames(g), (std::vector<std::string>{"emb.movie", "a.cell0.dense0.w", "a.cell0.dense0.b",
                                                     "a.cell0.dense1.w", "b.cell0.dense0.w", "b.cell0.dense0.b",
                                                     "b.cell0.dense1.w"}));
}

TEST(Scan, TwoScansInOneDefGetTheirOwnWeights) {
  Graph g = build(kCell + "def two(xs) { return scan(cell, zeros([B, 2]), scan(cell, zeros([B, 4]), xs)) }\n",
                  "  hs = two(xs)\n");
  EXPECT_EQ(named(g, "hs"), (Shape{kB, 5, 2}));
  EXPECT_EQ(paramNames(g), (std::vector<std::string>{"emb.movie", "hs.cell0.dense0.w", "hs.cell0.dense0.b",
                                                     "hs.cell0.dense1.w", "hs.cell1.dense0.w", "hs.cell1.dense0.b",
                                                     "hs.cell1.dense1.w"}));
}

TEST(Scan, MoreSequencesAndForwardedKeywords) {
  Graph g = build(
      "def step(h, x, m, scale = 1.0) { m = unsqueeze(m, -1)\n"
      "  return m * (h + scale * x) + (1 - m) * h }\n",
      "  hs = scan(step, zeros([B, 3]), xs, pad_mask(hist), scale = 0.5)\n");
  EXPECT_EQ(named(g, "hs"), (Shape{kB, 5, 3}));
  int halves = 0;
  for (const Node& n : g.nodes) halves += n.op == OpKind::Const && n.attrs.f("value") == 0.5;
  EXPECT_EQ(halves, 5);
}

TEST(Scan, ListStateGivesAListOfSequences) {
  // An LSTM-shaped state [h, c].
  Graph g = build(
      "def cell2(s, x) { c = s[1] + dense(x, 4)\n  return [tanh(c), c] }\n",
      "  both = scan(cell2, [zeros([B, 4]), zeros([B, 4])], xs)\n  hs = both[0]\n  cs = both[1]\n");
  EXPECT_EQ(named(g, "hs"), (Shape{kB, 5, 4}));
  EXPECT_EQ(named(g, "cs"), (Shape{kB, 5, 4}));
  EXPECT_EQ(countOps(g, OpKind::Param), 3);
}

TEST(Scan, CellMayBeABuiltin) {
  Graph g = build("", "  hs = scan(masked_fill, zeros([B, 3]), xs)\n");  // masked_fill(h, x_t)
  EXPECT_EQ(named(g, "hs"), (Shape{kB, 5, 3}));
  EXPECT_EQ(countOps(g, OpKind::MaskedFill), 5);
}

TEST(Scan, Errors) {
  auto error = [](const std::string& src) {
    try {
      buildModelFromString(src, "t.rec");
    } catch (const DiagError& e) {
      return e.message();
    }
    return std::string("no error");
  };
  const std::string head = "model M {\n  input hist : ids<movie>[5]\n  emb = embedding(3)\n";
  EXPECT_EQ(error(kCell + head + "  hs = scan(cell, zeros([B, 4]))\n}\n"),
            "scan(cell, h0, xs, ...) needs a cell, an initial state and at least one sequence, got 2 positional argument(s)");
  EXPECT_EQ(error(kCell + head + "  hs = scan(cell, 3, emb(hist))\n}\n"),
            "scan: the initial state must be a tensor or a list of tensors, got an int");
  EXPECT_NE(error(kCell + head + "  hs = scan(cell, zeros([B, 4]), emb(hist), bogus = 1)\n}\n")
                .find("'cell' has no parameter named 'bogus'"),
            std::string::npos);
  EXPECT_NE(error(kCell + head + "  hs = scan(cell, zeros([B, 4]), xs = emb(hist))\n}\n")
                .find("needs a cell, an initial state and at least one sequence"),
            std::string::npos);  // sequences are positional; keywords go to the cell
}

TEST(Builtins, ZerosTakeAndSize) {
  Graph g = build("", "  z = zeros([B, dim, 2])\n  t = take(xs, 1, -1)\n  n = zeros([size(xs, 1)])\n");
  EXPECT_EQ(named(g, "z"), (Shape{kB, 4, 2}));
  EXPECT_EQ(named(g, "t"), (Shape{kB, 3}));
  EXPECT_EQ(named(g, "n"), (Shape{5}));
}

TEST(Builtins, CausalMaskIsLowerTriangular) {
  Graph g = build("", "  m = causal_mask(3)\n");
  EXPECT_EQ(named(g, "m"), (Shape{3, 3}));
}
