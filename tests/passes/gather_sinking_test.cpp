// sinkGathers (and factorConcatMatmuls over flatten(stack(fields))): what is rewritten, what is
// left alone, and that values and gradients are those of the original graph.
#include <gtest/gtest.h>

#include <algorithm>

#include "compiler/ir/Verifier.h"
#include "compiler/passes/Algebra.h"
#include "compiler/passes/Autodiff.h"
#include "tests/passes/GradCheck.h"

namespace recc {
namespace {

using testing::GradCheck;

ValueId lookup(GradCheck& c, ValueId table, ValueId ids, double maxNorm = 0.0) {
  return c.b.add(OpKind::Gather, {table, ids}, Attrs().set("max_norm", maxNorm));
}
ValueId matmul(GradCheck& c, ValueId x, ValueId w) {
  return c.b.add(OpKind::MatMul, {x, w}, Attrs().set("ta", int64_t{0}).set("tb", int64_t{0}));
}

/// A two-layer tower over one id: matmul(act(matmul(e(id), W1) + b1), W2) -> [B,3]. Widths 32
/// and 16: narrower rows cost less to multiply than to look up, and are not sunk.
ValueId tower(GradCheck& c, int64_t rows, double maxNorm = 0.0, OpKind act = OpKind::Relu) {
  ValueId e = lookup(c, c.param({rows, 32}), c.ids(0, rows), maxNorm);
  ValueId h = c.b.add(act, {c.b.add(OpKind::Add, {matmul(c, e, c.param({32, 16}, -0.3f, 0.3f)), c.param({16}, 0.2f, 1)})});
  ValueId y = matmul(c, h, c.param({16, 3}));
  c.g.named.push_back({"y", y, {}});
  return y;
}

/// flatten(stack([e_1(id_1), ...])) -> [B, 32 * fields], one 32-wide table of each row count.
ValueId stackedFields(GradCheck& c, const std::vector<int64_t>& tableRows) {
  std::vector<ValueId> fields;
  for (int64_t rows : tableRows)
    fields.push_back(c.b.add(OpKind::Reshape, {lookup(c, c.param({rows, 32}), c.ids(0, rows))},
                             Attrs().set("shape", Shape{kB, 1, 32})));
  ValueId stacked = c.b.add(OpKind::Concat, fields, Attrs().set("axis", int64_t{1}));
  return c.b.add(OpKind::Reshape, {stacked}, Attrs().set("shape", Shape{kB, 32 * static_cast<int64_t>(tableRows.size())}));
}

/// The value named last in `g` on the reference evaluator, with c's inputs and parameters.
std::vector<float> lastNamed(GradCheck& c, const Graph& g, const ParamState& s) {
  ParamState copy = s;
  return evaluate(g, c.batch, c.inputs(), copy)[static_cast<size_t>(g.named.back().value)].f;
}

void expectSameValues(GradCheck& c, const Graph& before, const Graph& after) {
  ParamState s = c.randomState();
  std::vector<float> want = lastNamed(c, before, s), got = lastNamed(c, after, s);
  ASSERT_EQ(got.size(), want.size());
  for (size_t i = 0; i < got.size(); ++i) EXPECT_NEAR(got[i], want[i], 1e-5) << i;
}

/// Rows of the left operand of every matmul: batch-led ("B") or the table's row count.
std::vector<std::string> matmulRows(const Graph& g) {
  std::vector<std::string> rows;
  for (const Node& n : g.nodes)
    if (n.op == OpKind::MatMul) rows.push_back(g.at(n.inputs[0]).shape[0].str());
  return rows;
}

TEST(GatherSinking, ATowerOverASmallTableRunsOncePerRow) {
  GradCheck c;
  ValueId y = tower(c, 5);
  Graph f = c.g;
  EXPECT_EQ(sinkGathers(f, 1024), 4);  // matmul, add, relu, matmul
  verify(f);
  const ValueId fy = f.named.back().value;
  EXPECT_EQ(f.at(fy).shape, c.g.at(y).shape);
  EXPECT_EQ(f.at(fy).op, OpKind::Gather);  // the lookup comes last
  EXPECT_EQ(matmulRows(f), (std::vector<std::string>{"5", "5"}));
  expectSameValues(c, c.g, f);
}

TEST(GatherSinking, SunkTowerGradientsMatchFiniteDifferences) {
  GradCheck c;
  tower(c, 5, 0.0, OpKind::Tanh);  // smooth: a finite difference across relu's kink would differ
  ASSERT_EQ(sinkGathers(c.g, 1024), 4);
  c.check(c.g.named.back().value);
}

TEST(GatherSinking, ASummedLookupIsMultipliedPerRowThenSummed) {
  GradCheck c;
  // Per output column: 4 x 64 products plus 6 reads per row instead of 64 products per row.
  ValueId pooled = c.b.add(OpKind::Sum, {lookup(c, c.param({4, 64}), c.ids(6, 4))}, Attrs().set("axis", int64_t{1}));
  ValueId y = matmul(c, pooled, c.param({64, 5}));
  c.g.named.push_back({"y", y, {}});
  Graph f = c.g;
  EXPECT_EQ(sinkGathers(f, 1024), 1);
  verify(f);
  EXPECT_EQ(f.at(f.named.back().value).op, OpKind::Sum);
  EXPECT_EQ(matmulRows(f), std::vector<std::string>{"4"});
  expectSameValues(c, c.g, f);
  c.g = f;
  c.check(c.g.named.back().value);
}

TEST(GatherSinking, LargeSparseAndRenormalisingTablesAreLeftAlone) {
  {
    GradCheck c;
    tower(c, 2000);  // more rows than a batch of 1024 looks up
    EXPECT_EQ(sinkGathers(c.g, 1024), 0);
    EXPECT_EQ(sinkGathers(c.g, 4096), 4);  // but fewer than 4096 do
  }
  {
    GradCheck c;  // a product over 3000 rows that 4 batches of 1024 share (inference) is worth it
    tower(c, 3000);
    Graph once = c.g;
    EXPECT_EQ(sinkGathers(once, 1024, 1), 0);
    // matmul, add, relu; the last product reads 16-wide rows: 3000 x 16 / 4 table multiplications
    // plus the lookups cost more than 1024 x 16 per batch.
    EXPECT_EQ(sinkGathers(c.g, 1024, 4), 3);
    expectSameValues(c, once, c.g);
  }
  {
    GradCheck c;
    tower(c, 5);
    c.g.params[0].sparseUpdate = true;  // its updates must stay row-sparse
    EXPECT_EQ(sinkGathers(c.g, 1024), 0);
  }
  {
    GradCheck c;
    tower(c, 5, /*maxNorm=*/1.0);  // renormalises the rows it reads
    EXPECT_EQ(sinkGathers(c.g, 1024), 0);
  }
  {
    GradCheck c;  // dropout's mask depends on the element's position: the lookup stops there
    ValueId e = lookup(c, c.param({5, 4}), c.ids(0, 5));
    ValueId d = c.b.add(OpKind::Dropout, {c.b.add(OpKind::Relu, {e})}, Attrs().set("p", 0.5));
    c.g.named.push_back({"d", d, {}});
    EXPECT_EQ(sinkGathers(c.g, 1024), 1);  // relu only
    EXPECT_EQ(c.g.at(c.g.at(c.g.named.back().value).inputs[0]).op, OpKind::Gather);
  }
}

// At inference a table product serves every batch of one parameter version: the bundled test
// set (10358 rows, 2.5 batches of 4096) does not repay multiplying a movie-sized table (8919
// rows) that 4 batches would.
TEST(GatherSinking, ATableProductMustPayForItselfOverTheBatchesServed) {
  EXPECT_NEAR(batchesServed(10358, 4096), 2.529, 1e-3);
  EXPECT_EQ(batchesServed(100, 4096), 1.0);  // one partial batch still computes the product
  EXPECT_EQ(batchesServed(0, 4096), 1.0);
  GradCheck c;
  tower(c, 8919);
  Graph few = c.g;
  EXPECT_EQ(sinkGathers(few, 4096, batchesServed(10358, 4096)), 0);
  EXPECT_EQ(sinkGathers(c.g, 4096, 4), 3);  // matmul, add, relu; the 16-wide product stays
}

// DeepFM's first layer: matmul(flatten(stack([e(user), e(movie)])), W).
TEST(GatherSinking, StackedFieldsAreFactoredSoThatSmallTablesSink) {
  GradCheck c;
  ValueId flat = stackedFields(c, {5, 2000});
  ValueId y = matmul(c, flat, c.param({64, 6}, -0.3f, 0.3f));
  c.g.named.push_back({"y", y, {}});
  Graph f = c.g;
  EXPECT_EQ(factorConcatMatmuls(f, 1024), 1);
  EXPECT_EQ(sinkGathers(f, 1024), 1);  // the 5-row table; the 2000-row one is multiplied per lookup
  verify(f);
  std::vector<std::string> rows = matmulRows(f);
  std::sort(rows.begin(), rows.end());
  EXPECT_EQ(rows, (std::vector<std::string>{"5", "B"}));
  expectSameValues(c, c.g, f);  // gradients: the tower and summed-lookup tests check them
}

// FNN's first layer: matmul(concat([flatten(stack([e(user), e(movie)])), x]), W).
TEST(GatherSinking, NestedConcatsAreExpandedIntoTheirFields) {
  GradCheck c;
  ValueId flat = stackedFields(c, {5, 2000});
  ValueId cat = c.b.add(OpKind::Concat, {flat, c.batched({3})}, Attrs().set("axis", int64_t{1}));
  ValueId y = matmul(c, cat, c.param({67, 6}, -0.3f, 0.3f));
  c.g.named.push_back({"y", y, {}});
  Graph f = c.g;
  EXPECT_EQ(factorConcatMatmuls(f, 1024), 1);
  EXPECT_EQ(sinkGathers(f, 1024), 1);
  verify(f);
  std::vector<std::string> rows = matmulRows(f);
  std::sort(rows.begin(), rows.end());
  EXPECT_EQ(rows, (std::vector<std::string>{"5", "B", "B"}));  // the small table, the large one, x
  expectSameValues(c, c.g, f);
}

// PNN's first layer: the fields and six one-column inner products. Split, each column would be
// an outer product writing a [B, N] partial sum: the product stays whole.
TEST(GatherSinking, NarrowColumnsKeepTheProductWhole) {
  GradCheck c;
  std::vector<ValueId> parts = {stackedFields(c, {5, 2000})};
  for (int k = 0; k < 6; ++k) parts.push_back(c.batched({1}));
  ValueId cat = c.b.add(OpKind::Concat, parts, Attrs().set("axis", int64_t{1}));
  matmul(c, cat, c.param({70, 6}));
  EXPECT_EQ(factorConcatMatmuls(c.g, 1024), 0);
}

TEST(GatherSinking, StackedFieldsOfLargeTablesStayOneProduct) {
  GradCheck c;
  auto field = [&] {
    return c.b.add(OpKind::Reshape, {lookup(c, c.param({2000, 4}), c.ids(0, 2000))}, Attrs().set("shape", Shape{kB, 1, 4}));
  };
  ValueId stacked = c.b.add(OpKind::Concat, {field(), field()}, Attrs().set("axis", int64_t{1}));
  ValueId flat = c.b.add(OpKind::Reshape, {stacked}, Attrs().set("shape", Shape{kB, 8}));
  matmul(c, flat, c.param({8, 6}));
  EXPECT_EQ(factorConcatMatmuls(c.g, 1024), 0);
}

}  // namespace
}  // namespace recc
