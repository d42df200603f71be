// Liveness-based arena planning (first fit over the buffers live at each definition).
#include "compiler/codegen/BufferPlan.h"

#include <algorithm>

namespace recc {

namespace {
int64_t alignUp(int64_t x) { return (x + kArenaAlign - 1) / kArenaAlign * kArenaAlign; }
bool livesOverlap(const LiveInterval& a, const LiveInterval& b) {
  return a.start <= b.end && b.start <= a.end;
}
}  // namespace

std::vector<int64_t> packIntervals(const std::vector<LiveInterval>& iv, int64_t& arenaBytes) {
  std::vector<int64_t> offset(iv.size(), -1);
  std::vector<size_t> order;
  for (size_t i = 0; i < iv.size(); ++i)
    if (iv[i].bytes > 0) order.push_back(i);
  // Place in definition order, larger first on ties, so big buffers land low and reuse well.
  std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) {
    if (iv[a].start != iv[b].start) return iv[a].start < iv[b].start;
    return iv[a].bytes > iv[b].bytes;
  });
  std::vector<size_t> placed;
  arenaBytes = 0;
  for (size_t i : order) {
    // The ranges taken by placed buffers alive at the same time, by offset.
    std::vector<std::pair<int64_t, int64_t>> taken;
    for (size_t j : placed)
      if (livesOverlap(iv[i], iv[j])) taken.push_back({offset[j], offset[j] + alignUp(iv[j].bytes)});
    std::sort(taken.begin(), taken.end());
    const int64_t need = alignUp(iv[i].bytes);
    int64_t at = 0;  // first gap that fits
    for (auto& [lo, hi] : taken) {
      if (lo - at >= need) break;
      at = std::max(at, hi);
    }
    offset[i] = at;
    arenaBytes = std::max(arenaBytes, at + need);
    placed.push_back(i);
  }
  return offset;
}

std::vector<LiveInterval> arenaIntervals(const Graph& g, const FusionPlan& f, int64_t maxBatch) {
  std::vector<LiveInterval> iv(g.nodes.size());
  for (size_t i = 0; i < g.nodes.size(); ++i) {
    const Node& nd = g.nodes[i];
    if (!f.emitted[i] || !f.materialized[i]) continue;
    if (nd.op == OpKind::Input || nd.op == OpKind::Param || nd.op == OpKind::Reshape) continue;
    if (f.fetchSlot[i] >= 0) continue;  // in the caller's buffer
    iv[i].bytes = numElements(nd.shape, maxBatch) * 4;  // f32 and i32 are both 4 bytes
    if (iv[i].bytes == 0) iv[i].bytes = 4;  // keep empty tensors addressable
    iv[i].start = static_cast<int>(f.loopAt[i]);  // written where its loop runs
    iv[i].end = f.lastRead[i];
  }
  return iv;
}

BufferPlan planBuffers(const Graph& g, const FusionPlan& f, int64_t maxBatch) {
  BufferPlan plan;
  plan.offset = packIntervals(arenaIntervals(g, f, maxBatch), plan.arenaBytes);
  return plan;
}

std::string findOverlap(const std::vector<LiveInterval>& iv, const std::vector<int64_t>& offsets) {
  for (size_t a = 0; a < iv.size(); ++a)
    for (size_t b = a + 1; b < iv.size(); ++b) {
      if (iv[a].bytes <= 0 || iv[b].bytes <= 0 || !livesOverlap(iv[a], iv[b])) continue;
      int64_t a0 = offsets[a], a1 = a0 + iv[a].bytes, b0 = offsets[b], b1 = b0 + iv[b].bytes;
      if (a0 < b1 && b0 < a1)
        return "buffers " + std::to_string(a) + " and " + std::to_string(b) + " overlap";
    }
  return "";
}

}  // namespace recc
