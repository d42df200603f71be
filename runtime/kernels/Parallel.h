// The runtime's thread pool: static partitions of an index range over a fixed number of threads.
//
// Determinism: a range is always cut into the same chunks for the same thread count (and never
// depends on timing), and every chunk writes disjoint outputs or its own partial result that the
// caller combines in chunk order; so results are reproducible bit for bit for a fixed count.
#pragma once
#include <cstdint>

namespace recc {

/// The number of threads kernels and fused loops use (recc_set_threads; default: the cores).
int threadCount();

/// The chunks [lo, hi) that parallelFor cuts [0, n) into, when it runs `chunks` of them.
inline int64_t chunkBegin(int64_t n, int chunks, int c) {
  return n / chunks * c + (c < n % chunks ? c : n % chunks);
}

/// The least work per chunk before a region is split (default 24000 units); tests lower it to
/// run small problems on several threads. Returns the previous value.
double setMinWorkPerChunk(double work);

/// How many chunks parallelFor would use for n items of `work` (abstract cost units, about one
/// per flop); 1 when the work is too small to be worth a wake-up of the other threads.
int chunksFor(int64_t n, double work);

/// Calls fn(ctx, chunk, lo, hi) for every chunk of [0, n), in parallel (chunk 0 on the calling
/// thread). Blocks until all are done. Nested calls (from inside a chunk) run serially.
using ChunkFn = void (*)(void* ctx, int chunk, int64_t lo, int64_t hi);
void parallelChunks(int64_t n, int chunks, ChunkFn fn, void* ctx);

/// Runs fn(ctx, c, c, c + 1) for c < chunks, each chunk on its own thread, all at once (chunk 0
/// on the calling thread), so that chunks may wait for each other (a barrier). False, having
/// run nothing, when that is impossible: more chunks than threads, a nested call, or another
/// thread holding the pool.
bool parallelGang(int chunks, ChunkFn fn, void* ctx);

/// parallelChunks when the pool can take the region; false, having run nothing, when it would
/// run the chunks one after another (nested, the pool busy, a single chunk).
bool tryParallelChunks(int64_t n, int chunks, ChunkFn fn, void* ctx);

/// parallelChunks with a lambda: f(chunk, lo, hi), using chunksFor(n, work) chunks.
template <class F>
void parallelFor(int64_t n, double work, F&& f) {
  int chunks = chunksFor(n, work);
  if (chunks <= 1) {
    if (n > 0) f(0, int64_t{0}, n);
    return;
  }
  parallelChunks(n, chunks, [](void* ctx, int c, int64_t lo, int64_t hi) { (*static_cast<F*>(ctx))(c, lo, hi); },
                 &f);
}

}  // namespace recc
