// HR@K / NDCG@K against sampled unrated items (the usual leave-one-out protocol of
// sequential recommendation papers, with 99 negatives).
#include "tools/driver/RankEval.h"

#include <algorithm>
#include <cmath>
#include <random>
#include <string>
#include <unordered_map>
#include <unordered_set>

namespace recc {

namespace {

struct RowRef {
  const Dataset* d;
  int64_t row;
};

/// Copies row `src.row` of column k of `src.d` into row `dst` of `out`.
void copyCell(const Dataset& from, int64_t row, size_t k, Dataset& out, int64_t dst) {
  const Column& c = from.columns[k];
  Column& o = out.columns[k];
  if (c.dtype == DType::I32)
    std::copy_n(c.ids.begin() + row * c.width, c.width, o.ids.begin() + dst * c.width);
  else
    std::copy_n(c.values.begin() + row * c.width, c.width, o.values.begin() + dst * c.width);
}

}  // namespace

RankMetrics rankEvaluate(Engine& eng, const Graph& inf, size_t probOutput, const CsvTable& trainCsv,
                         const Dataset& train, const CsvTable& testCsv, const Dataset& test,
                         ParamState& state, uint64_t seed, int64_t maxBatch, int64_t k,
                         int64_t negatives) {
  RankMetrics m;
  m.k = k;
  m.negatives = negatives;
  int target = inf.inputIndex("target_item");
  if (target < 0 || inf.inputs[static_cast<size_t>(target)].kind != InputKind::Id)
    throw DataError("--rank-eval needs an input `target_item : id<...>` (the item to rank)");
  const std::string& vocab = inf.inputs[static_cast<size_t>(target)].vocab;
  int label = -1;
  std::vector<size_t> itemInputs;  // target_* inputs: features that move with the candidate item
  std::vector<size_t> historyInputs;  // other ids of the item vocabulary: items the user rated
  for (size_t i = 0; i < inf.inputs.size(); ++i) {
    const InputDecl& d = inf.inputs[i];
    if (d.kind == InputKind::Label) label = static_cast<int>(i);
    if (d.name.rfind("target_", 0) == 0) itemInputs.push_back(i);
    else if (d.vocab == vocab) historyInputs.push_back(i);
  }
  int uTrain = trainCsv.column("user_id"), uTest = testCsv.column("user_id");
  if (uTrain < 0 || uTest < 0) throw DataError("--rank-eval needs a user_id column in both CSV files");
  if (label < 0) throw DataError("--rank-eval needs a label to pick the positive test rows");

  // Items the user rated, and one row describing each item seen as a target.
  std::unordered_map<std::string, std::unordered_set<int32_t>> rated;
  std::unordered_map<int32_t, RowRef> itemRow;
  auto scan = [&](const CsvTable& csv, int u, const Dataset& d) {
    for (int64_t r = 0; r < d.rows; ++r) {
      auto& set = rated[std::string(csv.cell(static_cast<size_t>(u), r))];
      int32_t item = d.columns[static_cast<size_t>(target)].ids[static_cast<size_t>(r)];
      set.insert(item);
      itemRow.emplace(item, RowRef{&d, r});
      for (size_t h : historyInputs) {
        const Column& c = d.columns[h];
        for (int64_t j = 0; j < c.width; ++j)
          if (int32_t id = c.ids[static_cast<size_t>(r * c.width + j)]) set.insert(id);
      }
    }
  };
  scan(trainCsv, uTrain, train);
  scan(testCsv, uTest, test);
  std::vector<int32_t> pool;
  for (auto& [item, ref] : itemRow)
    if (item > 1) pool.push_back(item);  // never rank padding or <oov>
  std::sort(pool.begin(), pool.end());

  const int64_t group = negatives + 1, groupsPerBatch = maxBatch / group;
  if (groupsPerBatch < 1) throw DataError("--rank-eval needs an inference batch of at least " + std::to_string(group));
  Dataset chunk;
  chunk.columns = test.columns;
  for (Column& c : chunk.columns) {
    c.ids.assign(c.dtype == DType::I32 ? static_cast<size_t>(groupsPerBatch * group * c.width) : 0, 0);
    c.values.assign(c.dtype == DType::F32 ? static_cast<size_t>(groupsPerBatch * group * c.width) : 0, 0.f);
  }
  std::mt19937_64 rng(seed);
  std::vector<int64_t> order(static_cast<size_t>(groupsPerBatch * group));
  for (size_t i = 0; i < order.size(); ++i) order[i] = static_cast<int64_t>(i);
  std::vector<std::vector<float>> outs(inf.outputs.size());
  BatchBuffers buf;
  std::vector<int64_t> positives;
  for (int64_t r = 0; r < test.rows; ++r)
    if (test.columns[static_cast<size_t>(label)].values[static_cast<size_t>(r)] > 0.5f) positives.push_back(r);

  double hits = 0, ndcg = 0;
  for (size_t start = 0; start < positives.size(); start += static_cast<size_t>(groupsPerBatch)) {
    int64_t groups = std::min<int64_t>(groupsPerBatch, static_cast<int64_t>(positives.size() - start));
    for (int64_t g = 0; g < groups; ++g) {
      int64_t row = positives[start + static_cast<size_t>(g)];
      const auto& seen = rated[std::string(testCsv.cell(static_cast<size_t>(uTest), row))];
      for (int64_t j = 0; j < group; ++j) {
        int64_t dst = g * group + j;
        for (size_t c = 0; c < chunk.columns.size(); ++c) copyCell(test, row, c, chunk, dst);
        if (j == 0) continue;  // slot 0 keeps the true target
        int32_t cand;
        do {
          cand = pool[static_cast<size_t>(rng() % pool.size())];
        } while (seen.count(cand) && seen.size() < pool.size());
        const RowRef& ref = itemRow.at(cand);
        for (size_t c : itemInputs) copyCell(*ref.d, ref.row, c, chunk, dst);
      }
    }
    int64_t n = groups * group;
    chunk.rows = n;
    fillBatch(chunk, order, 0, n, buf);
    std::vector<float*> fetch;
    for (size_t o = 0; o < outs.size(); ++o) {
      outs[o].resize(static_cast<size_t>(n * numElements(inf.at(inf.outputs[o].value).shape, 1)));
      fetch.push_back(outs[o].data());
    }
    eng.run(n, buf.pointers(), state, fetch);
    const std::vector<float>& score = outs[probOutput];
    for (int64_t g = 0; g < groups; ++g) {
      float t = score[static_cast<size_t>(g * group)];
      int64_t rank = 0;
      for (int64_t j = 1; j < group; ++j) rank += score[static_cast<size_t>(g * group + j)] >= t;
      if (rank < k) {
        hits += 1;
        ndcg += 1.0 / std::log2(static_cast<double>(rank) + 2.0);
      }
    }
  }
  m.rows = static_cast<int64_t>(positives.size());
  if (m.rows) {
    m.hr = hits / static_cast<double>(m.rows);
    m.ndcg = ndcg / static_cast<double>(m.rows);
  }
  return m;
}

}  // namespace recc
