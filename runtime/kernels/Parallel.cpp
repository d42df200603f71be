// The thread pool behind parallelFor and recc_rt_parallel_for: persistent workers that spin
// briefly for the next region (a training step issues hundreds of short ones), then sleep.
#include "runtime/kernels/Parallel.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdlib>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include "runtime/kernels/Kernels.h"

namespace recc {

namespace {

inline void cpuRelax() {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#endif
}

// Below this much work (about one unit per flop) a region runs on the calling thread: waking
// another core and waiting for it costs a few microseconds.
std::atomic<double> minWorkPerChunk{24000};
constexpr int kChunksPerThread = 1;
// Idle workers poll for the next region this long, then sleep. A step's regions follow each
// other within microseconds, but between two steps the caller fills in the next batch: a worker
// asleep there is woken by a futex, and on a virtual machine its idle vCPU first has to be
// scheduled again. With 50 us instead of 500, Wide&Deep trained 1-17% and ALS-MLP 10-13% slower
// at 2 threads (three alternating rounds each). Polling, and the caller's wait for chunks that workers are
// running, yield the core after a few pauses: on a virtual machine a vCPU that spins on PAUSE is
// descheduled by the hypervisor, and on a busy machine the thread waited for may need the core.
constexpr auto kSpin = std::chrono::microseconds(500);

// A region's chunks are claimed by whichever thread gets there first (the caller included), from
// a ticket that packs (generation, next chunk, chunk count) into one atomic word: on a busy
// machine a worker that is not scheduled never holds the caller up, it just computes nothing.
// Which thread computes a chunk never changes what the chunk computes, so results stay fixed.
class Pool {
 public:
  explicit Pool(int threads) : threads_(threads) {
    for (int t = 1; t < threads_; ++t) workers_.emplace_back([this, t] { work(t); });
  }
  ~Pool() {
    {
      std::lock_guard<std::mutex> lock(mu_);
      stop_.store(true);
    }
    wake_.notify_all();
    for (std::thread& w : workers_) w.join();
  }
  int threads() const { return threads_; }

  void run(int64_t n, int chunks, ChunkFn fn, void* ctx) {
    fn_ = fn;
    ctx_ = ctx;
    n_ = n;
    done_.store(0, std::memory_order_relaxed);
    const uint64_t gen = (ticket_.load(std::memory_order_relaxed) >> 32) + 1;
    // Sequentially consistent with the sleepers count: a worker going to sleep either sees the
    // new ticket or is seen as a sleeper and woken.
    ticket_.store(gen << 32 | static_cast<uint64_t>(chunks));
    if (sleepers_.load() > 0) {
      std::lock_guard<std::mutex> lock(mu_);
      wake_.notify_all();
    }
    claimAll(0);
    // Chunks claimed by workers may still be running: wait for them.
    for (int i = 0; done_.load(std::memory_order_acquire) != chunks; ++i) {
      if (i < 64) cpuRelax();
      else std::this_thread::yield();
    }
  }

  /// Runs chunk c of fn on thread c (the caller is thread 0), all at once: chunks that wait
  /// for each other (shards at a barrier) never queue behind one another on one thread.
  void runGang(int chunks, ChunkFn fn, void* ctx) {
    fn_ = fn;
    ctx_ = ctx;
    n_ = chunks;
    done_.store(0, std::memory_order_relaxed);
    const uint64_t gen = (ticket_.load(std::memory_order_relaxed) >> 32) + 1;
    // Chunk c >= 1 opens for this generation only (chunk 0 is the caller's): a worker still
    // holding an older ticket cannot claim it, and the release makes fn_ and ctx_ visible to
    // the worker whose claim succeeds.
    for (int c = 1; c < chunks; ++c) gangOpen_[c].store(openFor(gen), std::memory_order_release);
    gang_.store(true, std::memory_order_relaxed);
    ticket_.store(gen << 32 | static_cast<uint64_t>(chunks));
    if (sleepers_.load() > 0) {
      std::lock_guard<std::mutex> lock(mu_);
      wake_.notify_all();
    }
    fn(ctx, 0, 0, 1);
    done_.fetch_add(1, std::memory_order_release);
    for (int i = 0; done_.load(std::memory_order_acquire) != chunks; ++i) {
      if (i < 64) cpuRelax();
      else std::this_thread::yield();
    }
    // Consumed (workers stop looking), then back to claiming in any order.
    ticket_.store(gen << 32 | static_cast<uint64_t>(chunks) << 16 | static_cast<uint64_t>(chunks));
    gang_.store(false);
  }

 private:
  using Clock = std::chrono::steady_clock;

  /// Claims and runs chunks of the current region until none is left; true if it ran any.
  /// In a gang region, thread `self` runs chunk `self` only.
  bool claimAll(int self) {
    bool ran = false;
    for (;;) {
      // Whether the region is a gang is read again with every ticket: a worker that finished a
      // chunk of an ordinary region may next see a gang's ticket, whose chunks it must not
      // claim the ordinary way (it would run the caller's chunk 0 a second time).
      uint64_t t = ticket_.load(std::memory_order_acquire);
      const auto chunks = static_cast<int>(t & 0xffff);
      const auto next = static_cast<int>((t >> 16) & 0xffff);
      if (next >= chunks) return ran;
      if (gang_.load(std::memory_order_acquire)) {
        if (self >= chunks) return ran;
        uint64_t open = openFor(t >> 32);
        if (!gangOpen_[self].compare_exchange_strong(open, 0, std::memory_order_acq_rel, std::memory_order_relaxed))
          return ran;  // taken, or opened for another generation than this (stale) ticket's
        fn_(ctx_, self, self, self + 1);
        done_.fetch_add(1, std::memory_order_release);
        return true;
      }
      if (!ticket_.compare_exchange_weak(t, t + (1u << 16), std::memory_order_acq_rel, std::memory_order_acquire))
        continue;
      fn_(ctx_, next, chunkBegin(n_, chunks, next), chunkBegin(n_, chunks, next + 1));
      done_.fetch_add(1, std::memory_order_release);
      ran = true;
    }
  }

  bool hasWork() const {
    uint64_t t = ticket_.load();
    return ((t >> 16) & 0xffff) < (t & 0xffff);
  }

  void work(int self) {
    inWorker() = true;
    while (!stop_.load(std::memory_order_acquire)) {
      if (claimAll(self)) continue;
      const auto start = Clock::now();
      for (int i = 0; !hasWork() && !stop_.load(std::memory_order_acquire) && Clock::now() - start < kSpin; ++i) {
        if (i < 64) cpuRelax();
        else std::this_thread::yield();
      }
      if (hasWork()) continue;
      std::unique_lock<std::mutex> lock(mu_);
      sleepers_.fetch_add(1);
      // Re-checked under the lock: run() notifies under it after publishing the ticket.
      wake_.wait(lock, [&] { return hasWork() || stop_.load(std::memory_order_acquire); });
      sleepers_.fetch_sub(1, std::memory_order_acq_rel);
    }
  }

 public:
  static bool& inWorker() {
    thread_local bool flag = false;
    return flag;
  }

 private:
  const int threads_;
  std::vector<std::thread> workers_;
  std::mutex mu_;
  std::condition_variable wake_;
  std::atomic<uint64_t> ticket_{0};  // generation << 32 | next chunk << 16 | chunks
  std::atomic<int> done_{0};
  std::atomic<bool> gang_{false};
  // Gang regions: per chunk, openFor(generation) until a worker claims it (then 0).
  static constexpr int kMaxGang = 64;
  static uint64_t openFor(uint64_t gen) { return (gen & 0xffffffffu) << 1 | 1; }
  std::atomic<uint64_t> gangOpen_[kMaxGang] = {};
  std::atomic<int> sleepers_{0};
  std::atomic<bool> stop_{false};
  // The current region: written before its ticket is published (release), stable until all of
  // its chunks are done.
  ChunkFn fn_ = nullptr;
  void* ctx_ = nullptr;
  int64_t n_ = 0;
};

/// Read once: every parallel region asks for the thread count, and glibc's
/// hardware_concurrency() opens and reads /sys/devices/system/cpu/online each time (a syscall
/// round trip per region: a quarter of a default-threads training run went to it).
int defaultThreads() {
  static const int threads = [] {
    if (const char* env = std::getenv("RECC_THREADS"); env && std::atoi(env) > 0) return std::min(std::atoi(env), 64);
    unsigned hw = std::thread::hardware_concurrency();
    return hw == 0 ? 1 : static_cast<int>(std::min(hw, 64u));
  }();
  return threads;
}

std::atomic<int> requested{0};  // 0 = default
std::mutex poolMu;              // one region at a time; guards the pool's (re)creation
std::unique_ptr<Pool> pool;

}  // namespace

int threadCount() {
  int r = requested.load(std::memory_order_relaxed);
  return r > 0 ? r : defaultThreads();
}

double setMinWorkPerChunk(double work) { return minWorkPerChunk.exchange(work > 0 ? work : 1e-9); }

int chunksFor(int64_t n, double work) {
  // Several chunks per thread: a thread that starts late (woken from sleep, or preempted on a
  // busy machine) then costs the others at most a small chunk of waiting. Depends only on n,
  // the work and the thread count (never on timing or nesting), so the partition is fixed.
  const int t = threadCount();
  if (t <= 1 || n <= 1) return 1;
  auto byWork = static_cast<int64_t>(work / minWorkPerChunk.load(std::memory_order_relaxed));
  return static_cast<int>(std::max<int64_t>(1, std::min<int64_t>({int64_t{kChunksPerThread} * t, n, byWork})));
}

bool parallelGang(int chunks, ChunkFn fn, void* ctx) {
  if (chunks <= 1) {
    fn(ctx, 0, 0, 1);
    return true;
  }
  if (Pool::inWorker() || chunks > threadCount() || chunks > 64) return false;
  std::unique_lock<std::mutex> lock(poolMu, std::try_to_lock);
  if (!lock.owns_lock()) return false;
  const int t = threadCount();
  if (!pool || pool->threads() != t) {
    pool.reset();
    pool = std::make_unique<Pool>(t);
  }
  pool->runGang(chunks, fn, ctx);
  return true;
}

bool tryParallelChunks(int64_t n, int chunks, ChunkFn fn, void* ctx) {
  chunks = static_cast<int>(std::min<int64_t>(chunks, n));
  if (chunks <= 1 || Pool::inWorker()) return false;
  std::unique_lock<std::mutex> lock(poolMu, std::try_to_lock);
  if (!lock.owns_lock()) return false;
  const int t = threadCount();
  if (!pool || pool->threads() != t) {
    pool.reset();
    pool = std::make_unique<Pool>(t);
  }
  pool->run(n, chunks, fn, ctx);
  return true;
}

void parallelChunks(int64_t n, int chunks, ChunkFn fn, void* ctx) {
  if (tryParallelChunks(n, chunks, fn, ctx)) return;
  // Serial when nested, when another thread holds the pool, or for a single chunk: the same
  // chunks in order, so the result does not depend on which of these happened.
  chunks = static_cast<int>(std::min<int64_t>(chunks, n));
  for (int c = 0; c < chunks; ++c) fn(ctx, c, chunkBegin(n, chunks, c), chunkBegin(n, chunks, c + 1));
}

}  // namespace recc

extern "C" {

void recc_set_threads(int n) { recc::requested.store(n > 0 ? n : 0, std::memory_order_relaxed); }

int recc_get_threads(void) { return recc::threadCount(); }

void recc_rt_parallel_for(ReccLoopFn fn, int64_t batch, void** slots, uint8_t* arena, const int64_t* desc,
                          int64_t n, int64_t work) {
  struct Ctx {
    ReccLoopFn fn;
    int64_t batch;
    void** slots;
    uint8_t* arena;
    const int64_t* desc;
  } ctx{fn, batch, slots, arena, desc};
  // A loop's elements do not depend on how its range is cut (each part writes its own results),
  // so where the chunks would run one after another (in a shard's thread, which holds the pool)
  // one call covers the range: a loop split along its columns (a sum over rows) then walks its
  // rows once, not once per chunk.
  const bool shared = recc::tryParallelChunks(
      n, recc::chunksFor(n, static_cast<double>(work)),
      [](void* p, int, int64_t lo, int64_t hi) {
        auto* c = static_cast<Ctx*>(p);
        c->fn(c->batch, c->slots, c->arena, c->desc, lo, hi);
      },
      &ctx);
  if (!shared && n > 0) fn(batch, slots, arena, desc, 0, n);
}

void recc_rt_run_calls(const ReccCall* calls, int64_t count, int64_t batch, void** slots, uint8_t* arena) {
  for (const ReccCall* c = calls; c < calls + count; ++c) {
    int64_t size[3];
    for (int i = 0; i < 3; ++i) {
      size[i] = c->sizes[i];
      for (int64_t p = 0; p < c->batchPowers[i]; ++p) size[i] *= batch;
    }
    if (c->fn) {
      recc_rt_parallel_for(c->fn, batch, slots, arena, c->desc, size[0], size[1]);
      continue;
    }
    auto buffer = [&](int64_t word) -> float* {
      return reinterpret_cast<float*>(word >= 0 ? arena + word : static_cast<uint8_t*>(slots[-1 - word]));
    };
    const int64_t* d = c->desc;
    recc_rt_matmul_f32(buffer(d[0]), buffer(d[1]), buffer(d[2]), size[0], size[1], size[2], static_cast<int32_t>(d[3]),
                       static_cast<int32_t>(d[4]));
  }
}

}  // extern "C"
