// Parameter storage: dense arrays, or a table's rows as [w | m | v] records (ParamDecl::rowRecords).
#include <algorithm>

#include "runtime/reference/Evaluator.h"

namespace recc {

std::vector<float> denseParam(const Graph& g, const ParamState& s, size_t p, int part) {
  const ParamDecl& d = g.params.at(p);
  if (!d.rowRecords) {
    const auto& group = part == 0 ? s.values : part == 1 ? s.m : s.v;
    return p < group.size() ? group[p] : std::vector<float>{};
  }
  const int64_t cols = d.shape.back().n, stride = rowStride(d);
  const std::vector<float>& rec = s.values.at(p);
  std::vector<float> out(rec.size() / 3);
  for (size_t r = 0; r < out.size() / static_cast<size_t>(cols); ++r)
    std::copy_n(rec.begin() + static_cast<std::ptrdiff_t>(r * stride + part * cols), cols,
                out.begin() + static_cast<std::ptrdiff_t>(r * cols));
  return out;
}

void setDenseParam(const Graph& g, ParamState& s, size_t p, const std::vector<float>& values,
                   const std::vector<float>& m, const std::vector<float>& v) {
  const ParamDecl& d = g.params.at(p);
  s.values.resize(std::max(s.values.size(), p + 1));
  s.m.resize(std::max(s.m.size(), p + 1));
  s.v.resize(std::max(s.v.size(), p + 1));
  if (!d.rowRecords) {
    s.values[p] = values;
    s.m[p] = m;
    s.v[p] = v;
    return;
  }
  const auto cols = static_cast<size_t>(d.shape.back().n), stride = static_cast<size_t>(rowStride(d));
  std::vector<float>& rec = s.values[p];
  rec.assign(values.size() * 3, 0.0f);
  size_t offset = 0;  // of the part within a record
  for (const std::vector<float>* part : {&values, &m, &v}) {
    for (size_t r = 0; r < std::min(part->size(), values.size()) / cols; ++r)  // an absent moment: none
      std::copy_n(part->begin() + static_cast<std::ptrdiff_t>(r * cols), cols,
                  rec.begin() + static_cast<std::ptrdiff_t>(r * stride + offset));
    offset += cols;
  }
  s.m[p].clear();
  s.v[p].clear();
}

float* momentData(const Graph& g, ParamState& s, size_t p, int part) {
  const ParamDecl& d = g.params.at(p);
  if (d.rowRecords) return s.values.at(p).data() + part * d.shape.back().n;
  auto& group = part == 1 ? s.m : s.v;
  return p < group.size() && !group[p].empty() ? group[p].data() : nullptr;
}

}  // namespace recc
