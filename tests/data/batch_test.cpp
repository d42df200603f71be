// shuffledOrder and fillBatch: permutations, determinism and per-input batch copies.
#include <algorithm>
#include <numeric>

#include "tests/data/DataTestUtil.h"

namespace recc {
namespace {

TEST(Shuffle, IsAPermutationAndDeterministic) {
  for (int64_t n : {0, 1, 2, 7, 1000}) {
    auto a = shuffledOrder(n, 42);
    auto b = shuffledOrder(n, 42);
    EXPECT_EQ(a, b);
    std::vector<int64_t> sorted = a;
    std::sort(sorted.begin(), sorted.end());
    std::vector<int64_t> iota(static_cast<size_t>(n));
    std::iota(iota.begin(), iota.end(), 0);
    EXPECT_EQ(sorted, iota);
  }
  EXPECT_NE(shuffledOrder(1000, 1), shuffledOrder(1000, 2));
  auto a = shuffledOrder(1000, 1);
  std::vector<int64_t> iota(1000);
  std::iota(iota.begin(), iota.end(), 0);
  EXPECT_NE(a, iota);
}

TEST(Shuffle, RoughlyUniformFirstPosition) {
  // Each of 4 elements should land first about 1/4 of the time over many seeds.
  std::vector<int> firsts(4);
  for (uint64_t s = 0; s < 4000; ++s) ++firsts[static_cast<size_t>(shuffledOrder(4, s)[0])];
  for (int c : firsts) {
    EXPECT_GT(c, 850);
    EXPECT_LT(c, 1150);
  }
}

TEST(Batch, FillCopiesRowsInOrder) {
  Dataset d;
  d.rows = 3;
  Column ids;
  ids.dtype = DType::I32;
  ids.width = 2;
  ids.ids = {10, 11, 20, 21, 30, 31};
  Column vals;
  vals.dtype = DType::F32;
  vals.values = {0.5f, 1.5f, 2.5f};
  d.columns = {ids, vals};
  BatchBuffers b;
  std::vector<int64_t> order{2, 0, 1};
  fillBatch(d, order, 0, 2, b);
  EXPECT_EQ(b.ids[0], (std::vector<int32_t>{30, 31, 10, 11}));
  EXPECT_EQ(b.values[1], (std::vector<float>{2.5f, 0.5f}));
  EXPECT_TRUE(b.values[0].empty());
  EXPECT_TRUE(b.ids[1].empty());
  auto p = b.pointers();
  ASSERT_EQ(p.size(), 2u);
  EXPECT_EQ(p[0], b.ids[0].data());
  EXPECT_EQ(p[1], b.values[1].data());
  fillBatch(d, order, 2, 1, b);  // a short last batch shrinks the buffers
  EXPECT_EQ(b.ids[0], (std::vector<int32_t>{20, 21}));
  EXPECT_EQ(b.values[1], (std::vector<float>{1.5f}));
  EXPECT_THROW(fillBatch(d, order, 2, 2, b), DataError);
}

}  // namespace
}  // namespace recc
