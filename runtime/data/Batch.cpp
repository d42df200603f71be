// Row order and batching: a platform-independent shuffle and per-input batch buffers.
#include <algorithm>
#include <limits>
#include <random>

#include "runtime/data/Dataset.h"

namespace recc {

namespace {

/// Uniform integer in [0, bound) by rejection: std::uniform_int_distribution's algorithm is
/// implementation-defined, so it would give different orders on different standard libraries.
uint64_t uniformBelow(std::mt19937_64& gen, uint64_t bound) {
  const uint64_t max = std::numeric_limits<uint64_t>::max();
  const uint64_t limit = max - (max % bound + 1) % bound;  // largest multiple of bound, minus 1
  uint64_t x;
  do x = gen();
  while (x > limit);
  return x % bound;
}

/// out = the rows rows[0..n) of a [*, width] column. The rows of a shuffled epoch are scattered
/// over the whole column (random cache misses on a large file): each is asked for a few rows
/// ahead, and a row of a few values is copied inline rather than by a library call.
template <class T>
void gatherRows(const T* column, int64_t width, const int64_t* rows, int64_t n, std::vector<T>& out) {
  const auto w = static_cast<size_t>(width);
  out.resize(static_cast<size_t>(n) * w);
  T* dst = out.data();
  constexpr int64_t kAhead = 16;
  for (int64_t i = 0; i < n; ++i, dst += w) {
    if (i + kAhead < n) __builtin_prefetch(column + static_cast<size_t>(rows[i + kAhead]) * w);
    const T* src = column + static_cast<size_t>(rows[i]) * w;
    for (size_t j = 0; j < w; ++j) dst[j] = src[j];
  }
}

}  // namespace

std::vector<int64_t> shuffledOrder(int64_t rows, uint64_t seed) {
  std::vector<int64_t> order(static_cast<size_t>(rows > 0 ? rows : 0));
  for (size_t i = 0; i < order.size(); ++i) order[i] = static_cast<int64_t>(i);
  std::mt19937_64 gen(seed);  // the engine itself is fully specified by the standard
  for (size_t i = order.size(); i > 1; --i) {  // Fisher-Yates, from the back
    size_t j = static_cast<size_t>(uniformBelow(gen, i));
    std::swap(order[i - 1], order[j]);
  }
  return order;
}

std::vector<const void*> BatchBuffers::pointers() const {
  std::vector<const void*> p(ids.size());
  for (size_t k = 0; k < ids.size(); ++k)
    p[k] = !ids[k].empty() ? static_cast<const void*>(ids[k].data())
                           : static_cast<const void*>(values[k].data());
  return p;
}

void fillBatch(const Dataset& d, const std::vector<int64_t>& order, int64_t begin, int64_t n,
               BatchBuffers& out) {
  if (begin < 0 || n < 0 || begin + n > static_cast<int64_t>(order.size()))
    throw DataError(d.path + ": batch [" + std::to_string(begin) + ", " +
                    std::to_string(begin + n) + ") is outside the row order of size " +
                    std::to_string(order.size()));
  for (int64_t i = 0; i < n; ++i) {
    const int64_t r = order[static_cast<size_t>(begin + i)];
    if (r < 0 || r >= d.rows)
      throw DataError(d.path + ": row index " + std::to_string(r) + " out of range");
  }
  const size_t ncols = d.columns.size();
  out.ids.resize(ncols);
  out.values.resize(ncols);
  for (size_t k = 0; k < ncols; ++k) {
    const Column& col = d.columns[k];
    // Exactly one of the two buffers of an input is non-empty (pointers() relies on it).
    if (col.dtype == DType::I32) {
      out.values[k].clear();
      gatherRows(col.ids.data(), col.width, order.data() + begin, n, out.ids[k]);
    } else {
      out.ids[k].clear();
      gatherRows(col.values.data(), col.width, order.data() + begin, n, out.values[k]);
    }
  }
}

}  // namespace recc
