// Shard barrier and sums (Shards.h).
#include "runtime/kernels/Shards.h"

#include <algorithm>
#include <thread>

namespace recc {

namespace {

template <class T>
void sumOverShards(const ReccShard* shard, T* out, const T* in, int64_t n) {
  if (!sharded(shard)) {
    std::copy(in, in + n, out);
    return;
  }
  ReccShardGroup& g = *shard->group;
  g.operands[shard->index] = in;
  shardBarrier(g);
  std::fill(out, out + n, T(0));
  for (int s = 0; s < g.count; ++s) {
    const T* x = static_cast<const T*>(g.operands[s]);
    for (int64_t i = 0; i < n; ++i) out[i] += x[i];
  }
  shardBarrier(g);  // every shard has read every operand: they may change again
}

}  // namespace

void shardBarrier(ReccShardGroup& g) {
  const int phase = g.phase.load(std::memory_order_acquire);
  if (g.arrived.fetch_add(1, std::memory_order_acq_rel) + 1 == g.count) {
    g.arrived.store(0, std::memory_order_relaxed);
    g.phase.store(phase + 1, std::memory_order_release);
    return;
  }
  // Spin briefly (the shards do the same work and arrive together), then yield the core: on a
  // busy machine the shard waited for may need it.
  for (int i = 0; g.phase.load(std::memory_order_acquire) == phase; ++i) {
    if (i < 256) {
#if defined(__x86_64__) || defined(__i386__)
      __builtin_ia32_pause();
#endif
    } else {
      std::this_thread::yield();
    }
  }
}

void shardSum(const ReccShard* shard, double* out, const double* in, int64_t n) { sumOverShards(shard, out, in, n); }

}  // namespace recc

extern "C" void recc_rt_shard_sum_f32(const ReccShard* shard, float* out, const float* in, int64_t n) {
  recc::sumOverShards(shard, out, in, n);
}
