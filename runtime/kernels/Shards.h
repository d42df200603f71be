// The shards of one batch running at once (compiler/codegen/Sharding.h): a barrier, and sums of
// per-shard values that every shard receives, for statistics over the whole batch (batch norm,
// a loss normalised by the batch's count) in the middle of a shard's pass.
#pragma once
#include <atomic>
#include <cstdint>

#include "runtime/kernels/Kernels.h"

struct ReccShardGroup {
  static constexpr int kMaxShards = 64;
  explicit ReccShardGroup(int shards) : count(shards) {}
  int count;
  std::atomic<int> arrived{0};
  std::atomic<int> phase{0};
  const void* operands[kMaxShards] = {};  // each shard's operand of the sum in progress
};

namespace recc {

/// Waits until every shard of the group has arrived.
void shardBarrier(ReccShardGroup& g);

/// out[n] = the sum of every shard's `in` in shard order (out = in when `shard` runs whole).
/// out and in must not overlap.
void shardSum(const ReccShard* shard, double* out, const double* in, int64_t n);

/// Whether `shard` is one of several.
inline bool sharded(const ReccShard* shard) { return shard && shard->group && shard->group->count > 1; }

}  // namespace recc
