// Graph -> LLVM IR -> native code through ORC LLJIT.
//
// A compiled function computes a whole graph for a run-time batch size B <= maxBatch.
// Elementwise/broadcast/reduction chains become fused loops in LLVM IR; MatMul, Gather,
// ScatterAdd and Update call the recc_rt_ kernels (runtime/kernels/Kernels.h). Every
// intermediate lives in one arena at an offset planned at compile time (liveness-based reuse).
#pragma once
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "compiler/ir/Graph.h"
#include "runtime/kernels/Kernels.h"

namespace recc {

struct CodegenOptions {
  int64_t maxBatch = 1024;
  int optLevel = 2;  // 0: none; 1, 2: loop-vectorising pipelines; 3: LLVM's -O3 (slow to compile)
  /// Reuse object code compiled earlier for the same module (compiler/codegen/Jit.h:
  /// DiskObjectCache; RECC_NO_CACHE=1 turns it off for every compile).
  bool useCache = true;
  /// Run each batch as this many row ranges in parallel, each on one thread through the whole
  /// graph, when the graph's rows are independent (Sharding.h); otherwise, or with 1, the
  /// batch runs as one and each op splits its own work over the threads.
  int shards = 1;
  /// A shard gets at least this many rows (fewer shards for a small batch): below it, waking
  /// another thread costs more than the rows.
  int64_t minShardRows = 64;
  /// A sharded graph without barriers runs each shard's rows in tiles whose buffers take about
  /// this many bytes (but at least minTileRows rows), one tile after another, so that a tile's
  /// intermediates stay in the core's caches instead of streaming through memory; the sums over
  /// the batch add up tile by tile. 0: whole shards. On this project's 2-core test machine
  /// (AMD EPYC, 512 KiB L2 a core), alternating runs: DIN's inference at batch 4096 (2048-row
  /// shards, 24 KiB of buffers a row) 15-30% faster in 42- to 170-row tiles; FNN's training
  /// step (512-row shards, 5.6 KiB a row) about 10% faster in 182-row tiles; BST's training
  /// step (46 KiB a row) 8% slower in 22-row tiles, unchanged in 128-row ones.
  int64_t tileBytes = int64_t{1} << 20;
  int64_t minTileRows = 128;
};

/// Where each graph value lives; offsets in bytes into the arena (-1: not in the arena:
/// inputs, params, and values that are never materialised because they were fused).
struct BufferPlan {
  std::vector<int64_t> offset;  // per node
  int64_t arenaBytes = 0;
};

/// Arguments of one call. Pointers are owned by the caller.
struct RunArgs {
  int64_t batch = 0;
  std::vector<const void*> inputs;  // per Graph::inputs: i32 or f32, [batch, ...] row-major
  std::vector<float*> params;       // per Graph::params
  std::vector<float*> m, v;         // per Graph::params: optimizer moments (training step)
  const ReccOptimizer* opt = nullptr;
  /// The row of a larger batch that this run's row 0 is (a shard of it, Sharding.h): dropout
  /// indexes the elements of the whole batch, so every shard draws the whole batch's mask.
  int64_t firstRow = 0;
  /// The shard this run is, when it is one of several running at once (null: the whole batch).
  const ReccShard* shard = nullptr;
  std::vector<float*> fetches;      // per fetched value: caller buffer of its size at `batch`
};

class CompiledGraph {
 public:
  /// Lowers `g` (vocabularies bound, verified) computing the values `fetches` (copied to
  /// RunArgs::fetches after each run) plus every Update side effect. Throws DiagError on a
  /// lowering failure (naming the op and its DSL location).
  static std::unique_ptr<CompiledGraph> compile(const Graph& g, std::vector<ValueId> fetches,
                                                const CodegenOptions& opts = {});
  virtual ~CompiledGraph() = default;
  virtual void run(const RunArgs& args) = 0;
  /// Allocates every run's arena now, faulting its pages in, instead of at its first run: a
  /// trainer calls it so that its first timed step or evaluation does not pay for them
  /// (`recc compile` does not).
  virtual void allocate() = 0;
  /// The optimised LLVM module as text (`recc compile --emit=llvm`); generated on first use
  /// (also when the code itself came from the object cache).
  virtual const std::string& llvmIR() const = 0;
  /// Whether the object code was loaded from the cache instead of compiled.
  virtual bool fromCache() const = 0;
  virtual const BufferPlan& plan() const = 0;
};

}  // namespace recc
