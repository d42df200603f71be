// Buffer planning: arena offsets for materialized values, reusing space of dead values.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "compiler/codegen/Compiler.h"
#include "compiler/codegen/Fusion.h"

namespace recc {

inline constexpr int64_t kArenaAlign = 64;

/// A buffer of `bytes` written at schedule step `start` and last read at step `end` (inclusive).
struct LiveInterval {
  int64_t bytes = 0;
  int start = 0, end = 0;
};

/// Interval packing over the linear schedule: each interval gets a 64-byte aligned offset such
/// that intervals whose lifetimes intersect never share bytes. Returns offsets; sets arenaBytes.
std::vector<int64_t> packIntervals(const std::vector<LiveInterval>& iv, int64_t& arenaBytes);

/// The arena buffers of a fused graph at maxBatch (per node; bytes 0 = not in the arena).
std::vector<LiveInterval> arenaIntervals(const Graph& g, const FusionPlan& f, int64_t maxBatch);

BufferPlan planBuffers(const Graph& g, const FusionPlan& f, int64_t maxBatch);

/// Describes the first pair of simultaneously-live intervals whose byte ranges overlap, or
/// returns "" (the planner's invariant, checked by tests).
std::string findOverlap(const std::vector<LiveInterval>& iv, const std::vector<int64_t>& offsets);

}  // namespace recc
