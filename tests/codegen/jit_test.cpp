// JIT structure tests: fusion, kernel calls in the IR, buffer plan invariants, errors, an MLP.
// GCC 12 reports a false -Wmaybe-uninitialized inside <regex> in sanitizer builds.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#include <regex>
#pragma GCC diagnostic pop

#include <llvm/ADT/StringRef.h>
#include <llvm/TargetParser/Host.h>

#include "compiler/codegen/BufferPlan.h"
#include "compiler/codegen/Fusion.h"
#include "compiler/ops/Composites.h"
#include "compiler/passes/Autodiff.h"
#include "tests/codegen/JitHarness.h"

namespace recc::test {
namespace {

int count(const std::string& text, const std::string& pattern) {
  std::regex re(pattern);
  return static_cast<int>(std::distance(std::sregex_iterator(text.begin(), text.end(), re),
                                        std::sregex_iterator()));
}

CodegenOptions opt(int level, int64_t maxBatch = 8) {
  CodegenOptions o;
  o.optLevel = level;
  o.maxBatch = maxBatch;
  return o;
}

TEST(Fusion, ElementwiseChainBecomesOneLoopNest) {
  TestGraph t;
  ValueId x = t.dense(4), y = t.dense(4);
  ValueId a = t.op(OpKind::Add, {x, y});
  ValueId m = t.op(OpKind::Mul, {a, t.param({4})});
  ValueId s = t.op(OpKind::Sigmoid, {m});
  auto cg = CompiledGraph::compile(t.g, {s}, opt(0));
  EXPECT_EQ(count(cg->llvmIR(), "\\nnest[0-9]*:"), 1) << cg->llvmIR();
  EXPECT_EQ(cg->plan().offset[static_cast<size_t>(a)], -1);  // never stored
  EXPECT_EQ(cg->plan().offset[static_cast<size_t>(m)], -1);
  EXPECT_EQ(cg->plan().offset[static_cast<size_t>(s)], -1);  // in the caller's buffer
  EXPECT_EQ(count(cg->llvmIR(), "store float"), 1);
  EXPECT_TRUE(matchesReference(t, {s}));
}

// A fetched value is computed in the caller's buffer (no arena space, no copy after the run),
// also when later nodes read it; a second fetch of it is copied from the first.
TEST(Fusion, FetchedValuesAreComputedInTheCallersBuffer) {
  TestGraph t;
  ValueId x = t.dense(4);
  ValueId e = t.op(OpKind::Exp, {x});
  ValueId r = t.op(OpKind::MatMul, {e, t.param({4, 3})}, Attrs().set("ta", int64_t{0}).set("tb", int64_t{0}));
  ValueId s = t.op(OpKind::Sigmoid, {r});
  auto cg = CompiledGraph::compile(t.g, {r, s, r}, opt(2));
  const FusionPlan f = planFusion(t.g, {r, s, r});
  EXPECT_EQ(f.fetchSlot[static_cast<size_t>(r)], 0);
  EXPECT_EQ(f.fetchSlot[static_cast<size_t>(s)], 1);
  EXPECT_EQ(f.fetchSlot[static_cast<size_t>(e)], -1);
  EXPECT_EQ(cg->plan().offset[static_cast<size_t>(r)], -1);
  EXPECT_EQ(cg->plan().offset[static_cast<size_t>(s)], -1);
  EXPECT_GE(cg->plan().offset[static_cast<size_t>(e)], 0);
  EXPECT_EQ(count(cg->llvmIR(), "llvm.memcpy"), 2) << cg->llvmIR();  // the declaration and one copy
  EXPECT_TRUE(matchesReference(t, {r, s, r}));
}

TEST(Fusion, SharedOrBroadcastProducersAreMaterialized) {
  TestGraph t;
  ValueId x = t.dense(4), col = t.op(OpKind::Reshape, {t.dense(0)}, Attrs().set("shape", Shape{kB, 1}));
  ValueId e = t.op(OpKind::Exp, {col});       // [B,1] read by a [B,4] loop: would recompute
  ValueId twice = t.op(OpKind::Tanh, {x});    // two uses
  ValueId out = t.op(OpKind::Add, {t.op(OpKind::Mul, {e, x}), t.op(OpKind::Mul, {twice, twice})});
  FusionPlan f = planFusion(t.g, {out});
  EXPECT_TRUE(f.materialized[static_cast<size_t>(e)]);
  EXPECT_TRUE(f.materialized[static_cast<size_t>(twice)]);
  FusionDecision d = shouldFuse(t.g, e, e + 1, 1);
  EXPECT_FALSE(d.allowed);
  EXPECT_NE(d.reason.find("broadcast"), std::string::npos) << d.reason;
  EXPECT_NE(shouldFuse(t.g, twice, out - 1, 2).reason.find("2 uses"), std::string::npos);
  EXPECT_TRUE(matchesReference(t, {out}));
}

// One add/sub/mul/neg of stored operands is computed again in each loop that reads it (batch
// norm's x - mean, read by the forward and the backward pass); a longer chain is stored once.
TEST(Fusion, CheapArithmeticOfStoredOperandsIsRecomputedPerUse) {
  TestGraph t;
  ValueId x = t.dense(4), y = t.dense(4), z = t.dense(4), w = t.dense(4), m = t.param({4});
  std::vector<ValueId> outs;
  auto usedTwice = [&](ValueId v) {  // two loops read v
    outs.push_back(t.op(OpKind::Tanh, {v}));
    outs.push_back(t.op(OpKind::Sigmoid, {v}));
    return v;
  };
  ValueId centred = t.op(OpKind::Sub, {x, m});
  ValueId chain = usedTwice(t.op(OpKind::Mul, {t.op(OpKind::Neg, {centred}), y}));  // 3 ops, 2 buffers
  ValueId repeated = usedTwice(t.op(OpKind::BroadcastTo, {m}, Attrs().set("shape", Shape{kB, 4})));
  ValueId fourStreams = usedTwice(t.op(OpKind::Add, {t.op(OpKind::Mul, {x, y}), t.op(OpKind::Mul, {z, w})}));
  ValueId afterTanh = usedTwice(t.op(OpKind::Mul, {t.op(OpKind::Tanh, {x}), y}));
  ValueId longChain = x;
  for (int i = 0; i < 17; ++i) longChain = t.op(OpKind::Mul, {longChain, m});
  usedTwice(longChain);
  FusionPlan f = planFusion(t.g, outs);
  auto stored = [&](ValueId v) { return f.materialized[static_cast<size_t>(v)]; };
  EXPECT_FALSE(stored(centred));
  EXPECT_FALSE(stored(chain));
  EXPECT_FALSE(stored(repeated));
  EXPECT_TRUE(stored(fourStreams)) << "recomputed, it would add 4 streams to each reader";
  EXPECT_TRUE(stored(afterTanh)) << "tanh is not cheap to compute twice";
  EXPECT_TRUE(stored(longChain)) << "past the bound on recomputed ops";
  EXPECT_TRUE(matchesReference(t, outs));
}

TEST(Fusion, KernelOperandsAndReshapesForbidFusion) {
  TestGraph t;
  ValueId x = t.dense(3);
  ValueId r = t.op(OpKind::Relu, {x});
  ValueId mm = t.op(OpKind::MatMul, {r, t.param({3, 2})});
  FusionDecision d = shouldFuse(t.g, r, mm, 1);
  EXPECT_FALSE(d.allowed);
  EXPECT_NE(d.reason.find("kernel"), std::string::npos);
  ValueId e = t.op(OpKind::Exp, {x});
  ValueId rs = t.op(OpKind::Reshape, {e}, Attrs().set("shape", Shape{kB, 3, 1}));
  EXPECT_FALSE(shouldFuse(t.g, e, rs, 1).allowed);
  EXPECT_TRUE(shouldFuse(t.g, t.b.constant(1, {3}), e, 5).allowed);  // constants always fuse
}

TEST(Fusion, LookupsAreReadInTheirConsumersLoop) {
  TestGraph t;
  ValueId table = t.param({10, 4});
  ValueId id = t.ids("item", 10, 0), seq = t.ids("item", 10, 3);
  ValueId row = t.op(OpKind::Gather, {table, id}, Attrs().set("max_norm", 0.0));
  ValueId out = t.op(OpKind::Relu, {t.op(OpKind::Add, {row, t.param({4})})});
  ValueId rows = t.op(OpKind::Gather, {table, seq}, Attrs().set("max_norm", 0.0));
  ValueId sum = t.op(OpKind::Sum, {rows}, Attrs().set("axis", int64_t{1}));
  FusionPlan f = planFusion(t.g, {out, sum});
  EXPECT_FALSE(f.materialized[static_cast<size_t>(row)]);
  EXPECT_FALSE(f.materialized[static_cast<size_t>(rows)]);
  auto cg = CompiledGraph::compile(t.g, {out, sum}, opt(2));
  EXPECT_EQ(cg->llvmIR().find("recc_rt_gather_f32"), std::string::npos) << "no lookup is copied out";
  EXPECT_TRUE(matchesReference(t, {out, sum}));
  // A renormalising lookup edits the table: it stays a kernel call of its own.
  ValueId renorm = t.op(OpKind::Gather, {table, id}, Attrs().set("max_norm", 1.0));
  ValueId e = t.op(OpKind::Exp, {renorm});
  EXPECT_FALSE(shouldFuse(t.g, renorm, e, 1).allowed);
}

TEST(Fusion, ConcatsAlongTheLastAxisSplitTheInnerLoopIntoDirectReads) {
  // A GRU's gate gradient: three slices' gradients padded back to [B, 3H] and added. Fused, the
  // inner loop runs one segment per operand range, reading each operand directly (vector
  // loads), not every operand at clamped indices (gathers and selects).
  TestGraph t;
  ValueId r = t.dense(8), u = t.dense(8), n = t.dense(8);
  auto zeros = [&](int64_t len) { return t.b.constant(0.0, {kB, Dim(len)}, {}); };
  auto cat = [&](std::vector<ValueId> parts) { return t.op(OpKind::Concat, std::move(parts), Attrs().set("axis", int64_t{1})); };
  ValueId gr = cat({t.op(OpKind::Exp, {r}), zeros(16)});
  ValueId gu = cat({zeros(8), u, zeros(8)});
  ValueId gn = cat({zeros(16), t.op(OpKind::Mul, {n, r})});
  ValueId out = t.op(OpKind::Add, {t.op(OpKind::Add, {gr, gu}), gn});
  FusionPlan f = planFusion(t.g, {out});
  EXPECT_FALSE(f.materialized[static_cast<size_t>(gu)]);
  auto cg = CompiledGraph::compile(t.g, {out}, opt(2, 16));
  EXPECT_EQ(cg->llvmIR().find("masked.gather"), std::string::npos) << cg->llvmIR();
  EXPECT_TRUE(matchesReference(t, {out}));
  // A concat of more operands than segments are worth keeps the selecting reads, as does one
  // along another axis.
  std::vector<ValueId> columns;
  for (int k = 0; k < 70; ++k) columns.push_back(t.dense(1));
  EXPECT_TRUE(matchesReference(t, {t.op(OpKind::Exp, {cat(columns)})}));
  auto grid = [&] { return t.op(OpKind::Reshape, {t.dense(16)}, Attrs().set("shape", Shape{kB, Dim(2), Dim(8)})); };
  ValueId rows = t.op(OpKind::Concat, {grid(), grid()}, Attrs().set("axis", int64_t{1}));
  EXPECT_TRUE(matchesReference(t, {t.op(OpKind::Exp, {rows})}));
}

// A scan's steps stacked along time: a concat of many operands along an outer axis is copied
// out once (one loop per operand) rather than fused into its consumer, whose every element
// would select among clamped reads of all of them. A few operands still fuse.
TEST(Fusion, ConcatsOfManyOperandsAlongAnOuterAxisAreCopiedOut) {
  TestGraph t;
  auto step = [&] { return t.op(OpKind::Reshape, {t.dense(8)}, Attrs().set("shape", Shape{kB, Dim(1), Dim(8)})); };
  auto stack = [&](int steps) {
    std::vector<ValueId> parts;
    for (int k = 0; k < steps; ++k) parts.push_back(step());
    return t.op(OpKind::Concat, parts, Attrs().set("axis", int64_t{1}));
  };
  ValueId many = stack(20), few = stack(4);
  ValueId e = t.op(OpKind::Exp, {many}), e4 = t.op(OpKind::Exp, {few});
  FusionDecision d = shouldFuse(t.g, many, e, 1);
  EXPECT_FALSE(d.allowed);
  EXPECT_NE(d.reason.find("20 operands"), std::string::npos) << d.reason;
  EXPECT_TRUE(shouldFuse(t.g, few, e4, 1).allowed);
  FusionPlan f = planFusion(t.g, {e, e4});
  EXPECT_TRUE(f.materialized[static_cast<size_t>(many)]);
  EXPECT_FALSE(f.materialized[static_cast<size_t>(few)]);
  EXPECT_TRUE(matchesReference(t, {e, e4}));
}

// Multi-output fusion: a value read by several loops and the column sums of it and of its
// siblings over the same [B,3,8] space (a layer's gradient, Dice's parameter sums) are computed
// by one loop at the first one's place, reading each operand once.
TEST(Fusion, SiblingLoopsOverOneSpaceRunAsOneLoop) {
  TestGraph t;
  auto grid = [&] { return t.op(OpKind::Reshape, {t.dense(24)}, Attrs().set("shape", Shape{kB, 3, 8})); };
  auto sumTo = [&](ValueId v, Shape s) { return t.op(OpKind::SumTo, {v}, Attrs().set("shape", std::move(s))); };
  ValueId x = grid(), y = grid();
  ValueId e = t.op(OpKind::Add, {t.op(OpKind::Mul, {x, y}), x});      // read by two sums: stored
  ValueId s1 = sumTo(e, {Dim(8)});
  ValueId s2 = sumTo(e, {kB, Dim(1), Dim(8)});
  ValueId s3 = sumTo(t.op(OpKind::Mul, {x, t.param({8})}), {Dim(1), Dim(8)});  // shares x
  ValueId out = t.op(OpKind::Add, {t.op(OpKind::Reshape, {s3}, Attrs().set("shape", Shape{Dim(8)})), s1});
  const std::vector<ValueId> fetches = {e, s2, out};
  FusionPlan f = planFusion(t.g, fetches);
  for (ValueId v : {e, s1, s2, s3}) EXPECT_EQ(f.loopAt[static_cast<size_t>(v)], e) << v;
  EXPECT_EQ(f.loopAt[static_cast<size_t>(out)], out);
  auto cg = CompiledGraph::compile(t.g, fetches, opt(2));
  EXPECT_EQ(count(cg->llvmIR(), "define internal void @loop[0-9]+_add_group4\\("), 1) << cg->llvmIR();
  // s1 and s3 are in the arena from the group's place on: no buffer overlaps a live one.
  EXPECT_EQ(findOverlap(arenaIntervals(t.g, f, 8), cg->plan().offset), "");
  EXPECT_GE(cg->plan().offset[static_cast<size_t>(s3)], 0);
  for (int64_t batch : {1, 5, 8}) EXPECT_TRUE(matchesReference(t, fetches, batch)) << batch;
}

// A loop joins a group only if what it reads exists where the group runs, and it reads a
// member only at the loop's own index (the member's element computed just before it).
TEST(Fusion, SiblingLoopsJoinOnlyWhenTheirOperandsAreReady) {
  TestGraph t;
  auto square = [&] { return t.op(OpKind::Reshape, {t.dense(64)}, Attrs().set("shape", Shape{kB, 8, 8})); };
  auto sumTo = [&](ValueId v) { return t.op(OpKind::SumTo, {v}, Attrs().set("shape", Shape{Dim(8)})); };
  ValueId x = square();
  ValueId e = t.op(OpKind::Exp, {x});
  ValueId s1 = sumTo(e);
  ValueId late = t.op(OpKind::Softmax, {x}, Attrs().set("axis", int64_t{2}));  // a kernel after e
  ValueId s2 = sumTo(t.op(OpKind::Mul, {late, x}));
  ValueId s3 = sumTo(t.op(OpKind::Mul, {t.op(OpKind::Transpose, {e}, Attrs().set("perm", Shape{0, 2, 1})), x}));
  ValueId alias = t.op(OpKind::Reshape, {e}, Attrs().set("shape", Shape{kB, 8, 8}));
  ValueId s4 = sumTo(t.op(OpKind::Mul, {alias, x}));
  const std::vector<ValueId> fetches = {e, s1, s2, s3, s4};
  FusionPlan f = planFusion(t.g, fetches);
  EXPECT_EQ(f.loopAt[static_cast<size_t>(s1)], e);
  for (ValueId v : {s2, s3, s4}) EXPECT_NE(f.loopAt[static_cast<size_t>(v)], e) << v;
  EXPECT_TRUE(matchesReference(t, fetches, 5));
}

// Loops and products go to the runtime as run lists (ReccCall tables): one recc_rt_run_calls per
// run between other kernels, in schedule order, with sizes in the batch evaluated per run.
TEST(Codegen, LoopsAndProductsRunFromCallTables) {
  TestGraph t;
  ValueId x = t.op(OpKind::Exp, {t.dense(3)});
  ValueId mm = t.op(OpKind::MatMul, {x, t.param({3, 4})});
  ValueId h = t.op(OpKind::Tanh, {mm});
  ValueId w = t.op(OpKind::MatMul, {h, t.dense(4)}, Attrs().set("ta", int64_t{1}));  // [4,4]: contracts over B
  ValueId sm = t.op(OpKind::Softmax, {t.op(OpKind::Sigmoid, {h})}, Attrs().set("axis", int64_t{1}));
  ValueId out = t.op(OpKind::Add, {sm, h});
  auto cg = CompiledGraph::compile(t.g, {out, w}, opt(2));
  const std::string ir = cg->llvmIR();
  EXPECT_EQ(count(ir, "call void @recc_rt_run_calls"), 2) << ir;  // before and after the softmax
  EXPECT_EQ(count(ir, "call void @recc_rt_(?!run_calls|softmax)"), 0) << ir;
  EXPECT_EQ(count(ir, "ptr null, ptr @matmul"), 2) << ir;
  for (int64_t batch : {1, 5, 8}) EXPECT_TRUE(matchesReference(t, {out, w}, batch)) << batch;
}

TEST(Codegen, WideElementwiseLoopsAreVectorized) {
  TestGraph t;
  ValueId x = t.dense(64), y = t.dense(64);
  ValueId out = t.op(OpKind::Relu, {t.op(OpKind::Mul, {t.op(OpKind::Add, {x, y}), x})});
  auto cg = CompiledGraph::compile(t.g, {out}, opt(2, 64));
  EXPECT_GT(count(cg->llvmIR(), "<[0-9]+ x float>"), 0) << cg->llvmIR();
}

// The vector width is LLVM's choice for the host CPU (no prefer-vector-width override): on Zen 4
// and 5 that is 512 bits, which trained DIEN 8% and DIN 3% faster than a 256-bit cap.
TEST(Codegen, LoopsUseTheHostsPreferredVectorWidth) {
  TestGraph t;
  ValueId out = t.op(OpKind::Sigmoid, {t.op(OpKind::Add, {t.dense(64), t.dense(64)})});
  auto cg = CompiledGraph::compile(t.g, {out}, opt(2, 64));
  const std::string& ir = cg->llvmIR();
  EXPECT_EQ(count(ir, "prefer-vector-width"), 0) << ir;
  const std::string cpu = llvm::sys::getHostCPUName().str();
  if (cpu != "znver4" && cpu != "znver5") GTEST_SKIP() << "512-bit loops are expected on Zen 4 and 5; this host is " << cpu;
  EXPECT_GT(count(ir, "<16 x float>"), 0) << ir;
}

TEST(Codegen, MlpChainMatchesReference) {
  // relu(x W0 + b0) W1 + b1, summed over features and averaged over the batch.
  TestGraph t;
  ValueId x = t.dense(6);
  ValueId h = t.op(OpKind::Relu, {t.op(OpKind::Add, {t.op(OpKind::MatMul, {x, t.param({6, 8})}), t.param({8})})});
  ValueId o = t.op(OpKind::Add, {t.op(OpKind::MatMul, {h, t.param({8, 3})}), t.param({3})});
  ValueId s = t.op(OpKind::Sum, {o}, Attrs().set("axis", int64_t{1}));
  ValueId loss = t.op(OpKind::Mean, {t.op(OpKind::Sigmoid, {s})}, Attrs().set("axis", int64_t{0}));
  EXPECT_TRUE(matchesReference(t, {h, o, s, loss}, 5, 3, 8, 3));
  EXPECT_TRUE(matchesReference(t, {loss}, 8, 4, 8));
}

TEST(BufferPlan, LiveBuffersNeverOverlapInRandomSchedules) {
  std::mt19937 rng(42);
  for (int trial = 0; trial < 200; ++trial) {
    std::vector<LiveInterval> iv(40);
    for (size_t i = 0; i < iv.size(); ++i) {
      iv[i].start = static_cast<int>(i);
      iv[i].end = static_cast<int>(i + rng() % 10);
      iv[i].bytes = (rng() % 4 == 0) ? 0 : 1 + static_cast<int64_t>(rng() % 5000);
    }
    int64_t arena = 0;
    std::vector<int64_t> off = packIntervals(iv, arena);
    ASSERT_EQ(findOverlap(iv, off), "") << "trial " << trial;
    int64_t total = 0;
    for (size_t i = 0; i < iv.size(); ++i) {
      if (iv[i].bytes == 0) continue;
      EXPECT_EQ(off[i] % kArenaAlign, 0);
      EXPECT_LE(off[i] + iv[i].bytes, arena);
      total += (iv[i].bytes + kArenaAlign - 1) / kArenaAlign * kArenaAlign;
    }
    EXPECT_LT(arena, total) << "no reuse at all in trial " << trial;
  }
}

TEST(BufferPlan, OverlapCheckerCatchesConflicts) {
  std::vector<LiveInterval> iv = {{100, 0, 3}, {100, 2, 4}};
  EXPECT_NE(findOverlap(iv, {0, 64}), "");
  EXPECT_EQ(findOverlap(iv, {0, 128}), "");
  iv[1].start = 4;  // disjoint lifetimes may share memory
  EXPECT_EQ(findOverlap(iv, {0, 0}), "");
}

TEST(BufferPlan, GraphPlanReusesDeadBuffersWithoutOverlap) {
  TestGraph t;
  ValueId x = t.dense(16);
  ValueId cur = x;
  // Three layers: each matmul output dies after the next one reads it (enough to force reuse;
  // longer chains amplify float32 rounding past the harness tolerance in the -O1 sanitizer build).
  for (int i = 0; i < 3; ++i)
    cur = t.op(OpKind::Tanh, {t.op(OpKind::MatMul, {cur, t.param({16, 16})})});
  auto cg = CompiledGraph::compile(t.g, {cur}, opt(2));
  FusionPlan f = planFusion(t.g, {cur});
  std::vector<LiveInterval> iv = arenaIntervals(t.g, f, 8);
  EXPECT_EQ(findOverlap(iv, cg->plan().offset), "");
  int64_t sum = 0;
  for (const LiveInterval& l : iv) sum += l.bytes;
  EXPECT_LT(cg->plan().arenaBytes, sum);
  EXPECT_TRUE(matchesReference(t, {cur}));
}

TEST(Codegen, SequenceKernelOpsLowerToTheirKernelCalls) {
  TestGraph t;
  ValueId x3 = t.op(OpKind::Reshape, {t.dense(12)}, Attrs().set("shape", Shape{kB, 3, 4}));
  ValueId v4 = t.param({4});
  std::vector<ValueId> f = {
      t.op(OpKind::BatchMatMul, {x3, x3}, Attrs().set("tb", int64_t{1})),
      t.op(OpKind::Softmax, {x3}, Attrs().set("axis", int64_t{2})),
      t.op(OpKind::LayerNorm, {x3, v4, v4}),
      t.op(OpKind::BatchMoments, {x3, t.param({4}), t.param({4}, "ones")}),
      t.op(OpKind::CrossEntropy, {x3, t.ids("cls", 4, 3)}),
      t.b.add(OpKind::PositionalEncoding, {}, Attrs().set("length", int64_t{3}).set("dim", int64_t{4})),
      t.op(OpKind::Conv1d, {x3, t.param({2, 4, 2}), t.param({2})}),
      t.op(OpKind::Unfold1d, {x3}, Attrs().set("kernel", int64_t{2})),
  };
  f.push_back(t.op(OpKind::Fold1d, {f.back()}, Attrs().set("kernel", int64_t{2}).set("length", int64_t{3})));
  auto cg = CompiledGraph::compile(t.g, f, opt(2));
  for (const char* k : {"batch_matmul", "softmax", "layer_norm", "batch_moments", "cross_entropy",
                        "positional_encoding", "conv1d", "unfold1d", "fold1d"})
    EXPECT_NE(cg->llvmIR().find(std::string("call void @recc_rt_") + k + "_f32"), std::string::npos) << k;
  EXPECT_TRUE(matchesReference(t, f));
}

TEST(Fusion, DropoutMaskingAndTransposeFuseIntoOneLoop) {
  TestGraph t;
  ValueId x = t.dense(8), y = t.dense(8);
  ValueId d = t.op(OpKind::Dropout, {t.op(OpKind::Add, {x, y})}, Attrs().set("p", 0.3).set("seed", int64_t{2}));
  ValueId ids = t.ids("tok", 3, 8);
  ValueId out = t.op(OpKind::MaskedFill, {t.op(OpKind::LeakyRelu, {d}), t.op(OpKind::PadMask, {ids})},
                     Attrs().set("value", -1.0));
  auto cg = CompiledGraph::compile(t.g, {out}, opt(0));
  EXPECT_EQ(count(cg->llvmIR(), "\nnest[0-9]*:"), 1) << cg->llvmIR();
  EXPECT_EQ(count(cg->llvmIR(), "call void @recc_rt_(?!run_calls)"), 0);  // no kernel, one loop
  EXPECT_TRUE(matchesReference(t, {out}, 5, 7, 8, 3));  // three steps: three masks
}

TEST(Fusion, OneHotAndTransposeAreComputedInTheirConsumersLoop) {
  TestGraph t;
  ValueId z = t.op(OpKind::Reshape, {t.dense(15)}, Attrs().set("shape", Shape{kB, 3, 5}));
  ValueId oh = t.op(OpKind::OneHot, {t.ids("item", 5, 3)}, Attrs().set("depth", Shape{5}));
  ValueId tr = t.op(OpKind::Transpose, {t.op(OpKind::Exp, {z})}, Attrs().set("perm", Shape{0, 2, 1}));
  ValueId d = t.op(OpKind::Sub, {z, oh});
  ValueId s = t.op(OpKind::Mul, {tr, t.b.constant(2, {})});
  FusionPlan f = planFusion(t.g, {d, s});
  EXPECT_FALSE(f.materialized[static_cast<size_t>(oh)]);
  EXPECT_FALSE(f.materialized[static_cast<size_t>(tr)]);
  EXPECT_FALSE(f.materialized[static_cast<size_t>(tr - 1)]);  // the exp, inside the transposed read
  EXPECT_TRUE(matchesReference(t, {d, s}));
}

TEST(Codegen, DropoutWithoutAnOptimizerSlotUsesStepZero) {
  TestGraph t;
  ValueId x = t.dense(64);
  ValueId d = t.op(OpKind::Dropout, {x}, Attrs().set("p", 0.5).set("seed", int64_t{11}));
  auto cg = CompiledGraph::compile(t.g, {d}, opt(2));
  std::vector<Tensor> in = randomInputs(t.g, t.vocab, 4, 1);
  ParamState s;  // opt.step = 0
  std::vector<float> want = evaluate(t.g, 4, in, s)[static_cast<size_t>(d)].f, got(want.size());
  RunArgs args;
  args.batch = 4;
  args.inputs = {in[0].f.data()};
  args.fetches = {got.data()};
  cg->run(args);  // args.opt is null
  EXPECT_EQ(got, want);
}

// A transformer-style block trained end to end: embeddings + positions, masked self-attention,
// residual + layer norm, dropout, batch norm, a conv, and a per-position cross-entropy loss.
TEST(Codegen, AttentionBlockTrainStepMatchesReference) {
  TestGraph t;
  const int64_t L = 4, D = 6, V = 7;
  ValueId ids = t.ids("item", V, L);
  ValueId emb = t.op(OpKind::Gather, {t.param({V, D}, "normal", 0.5), ids});
  ValueId pe = t.b.add(OpKind::PositionalEncoding, {}, Attrs().set("length", L).set("dim", D));
  ValueId h = t.op(OpKind::Add, {emb, pe});
  auto dense = [&](ValueId v, int64_t out) {
    return t.op(OpKind::Add, {t.op(OpKind::MatMul, {v, t.param({D, out}, "normal", 0.4)}), t.param({out})});
  };
  ValueId q = dense(h, D), k = dense(h, D), v = dense(h, D);
  ValueId s = t.op(OpKind::Mul, {t.op(OpKind::BatchMatMul, {q, k}, Attrs().set("tb", int64_t{1})), t.b.constant(0.4, {})});
  ValueId mask = t.op(OpKind::Reshape, {t.op(OpKind::PadMask, {ids})}, Attrs().set("shape", Shape{kB, 1, L}));
  ValueId p = t.op(OpKind::Softmax, {t.op(OpKind::MaskedFill, {s, mask}, Attrs().set("value", -1e9))},
                   Attrs().set("axis", int64_t{2}));
  ValueId att = t.op(OpKind::Dropout, {t.op(OpKind::BatchMatMul, {p, v})}, Attrs().set("p", 0.2).set("seed", int64_t{3}));
  ValueId ln = t.op(OpKind::LayerNorm, {t.op(OpKind::Add, {h, att}), t.param({D}, "ones"), t.param({D}, "zeros")});
  ValueId bn = batchNorm(t.b, ln, t.param({D}, "ones"), t.param({D}, "zeros"), t.param({D}, "zeros"),
                         t.param({D}, "ones"), 1e-5, 0.1, {});
  ValueId conv = t.op(OpKind::Conv1d, {bn, t.param({3, D, V}, "normal", 0.3), t.param({V})},
                      Attrs().set("padding", int64_t{1}));
  ValueId act = t.op(OpKind::Prelu, {conv, t.param({V}, "uniform", 0.3)});
  ValueId ce = t.op(OpKind::CrossEntropy, {act, ids});
  ValueId loss = t.op(OpKind::Mean, {t.op(OpKind::Sum, {ce}, Attrs().set("axis", int64_t{1}))}, Attrs().set("axis", int64_t{0}));
  t.g.losses.push_back({loss, 1.0, {}});
  bindVocabularies(t.g, t.vocab);
  Graph step = buildTrainStep(t.g);
  // SGD: Adam would turn the rounding noise of gradients that are exactly 0 in theory (the key
  // bias: softmax ignores a per-row shift) into lr-sized steps of random sign.
  ReccOptimizer sgd{0, 0.1f, 0, 0, 0, 0, 1};
  EXPECT_TRUE(matchesReference(step, t.vocab, {step.loss}, 5, 3, 8, 3, sgd, 1e-5));
  t.g.outputs.push_back({"logits", act, {}});
  Graph inf = buildInference(t.g);
  EXPECT_TRUE(matchesReference(inf, t.vocab, {inf.outputs[0].value}, 6, 4, 8));
}

TEST(Codegen, UserErrorsThrowDiagError) {
  TestGraph t;
  ValueId x = t.dense(3);
  ValueId e = t.op(OpKind::Exp, {x});
  auto cg = CompiledGraph::compile(t.g, {e}, opt(1, 4));
  RunArgs args;
  args.batch = 5;  // above maxBatch
  EXPECT_THROW(cg->run(args), DiagError);
  args.batch = 2;  // missing inputs and fetches
  EXPECT_THROW(cg->run(args), DiagError);
  EXPECT_THROW(CompiledGraph::compile(t.g, {99}), DiagError);

  TestGraph u;  // an unbound vocabulary dimension
  ParamDecl p;
  p.name = "emb";
  p.shape = {Dim::sym_("|movie|"), 4};
  u.g.params.push_back(p);
  ValueId tab = u.b.add(OpKind::Param, {}, Attrs().set("index", int64_t{0}));
  EXPECT_THROW(CompiledGraph::compile(u.g, {tab}), DiagError);
}

}  // namespace
}  // namespace recc::test

namespace recc::test {
namespace {

// exp and log are emitted as polynomials (so that their loops vectorise): check them against
// libm over the whole f32 range, the subnormal results included, and at the special values.
// Arenas come from allocate() (a trainer, before its timed runs) or else from each instance's
// first run (`recc compile` makes none); either way the runs compute the same.
TEST(Codegen, ArenasAreMadeByAllocateOrByTheFirstRun) {
  TestGraph t;
  ValueId x = t.dense(3);
  ValueId y = t.op(OpKind::Tanh, {t.op(OpKind::Mul, {x, t.op(OpKind::Sum, {x}, Attrs().set("axis", int64_t{1}).set("keepdims", int64_t{1}))})});
  std::vector<float> in(8 * 3);
  for (size_t i = 0; i < in.size(); ++i) in[i] = 0.1f * static_cast<float>(i) - 1;
  std::vector<std::vector<float>> outs;
  for (bool eager : {false, true}) {
    CodegenOptions o = opt(2);
    o.shards = 2;
    o.minShardRows = 1;
    auto cg = CompiledGraph::compile(t.g, {y}, o);
    if (eager) {
      cg->allocate();
      cg->allocate();  // a second call changes nothing
    }
    for (int64_t batch : {8, 3}) {
      outs.emplace_back(static_cast<size_t>(batch * 3));
      RunArgs args;
      args.batch = batch;
      args.inputs = {in.data()};
      args.fetches = {outs.back().data()};
      cg->run(args);
    }
  }
  EXPECT_EQ(outs[0], outs[2]);
  EXPECT_EQ(outs[1], outs[3]);
  EXPECT_NEAR(outs[0][0], std::tanh(-1.f * (-1.f - 0.9f - 0.8f)), 1e-6);
}

TEST(Codegen, PolynomialExpAndLogMatchLibm) {
  std::vector<float> xs = {0.f, -0.f, 1.f, -1.f, 0.5f, 88.7f, 88.72f, 89.f, 1000.f, -87.3f, -88.f, -100.f, -103.9f,
                           -104.f, -1e9f, 1e-30f, 1e-40f, 3e38f, INFINITY, -INFINITY, NAN};
  for (int i = -1100; i <= 1000; ++i) xs.push_back(static_cast<float>(i) * 0.0917f);
  const auto n = static_cast<int64_t>(xs.size());
  TestGraph t;
  ValueId x = t.dense(n);
  ValueId e = t.op(OpKind::Exp, {x});
  ValueId l = t.op(OpKind::Log, {t.op(OpKind::Exp, {t.op(OpKind::Mul, {x, t.b.constant(0.1, {})})})});
  ValueId lg = t.op(OpKind::Log, {x});
  auto cg = CompiledGraph::compile(t.g, {e, l, lg}, opt(2, 1));
  std::vector<float> ge(xs.size()), gl(xs.size()), glg(xs.size());
  RunArgs args;
  args.batch = 1;
  args.inputs = {xs.data()};
  args.fetches = {ge.data(), gl.data(), glg.data()};
  cg->run(args);
  auto close = [](float got, double want) {
    if (std::isnan(want)) return std::isnan(got);
    if (std::isinf(want)) return got == static_cast<float>(want);
    if (std::fabs(want) < 0x1p-126) return std::fabs(got - want) <= 0x1p-148;  // subnormal: absolute
    return std::fabs(got - want) <= 4e-7 * std::fabs(want);
  };
  for (size_t i = 0; i < xs.size(); ++i) {
    const double xi = xs[i];
    const double want = static_cast<double>(static_cast<float>(std::exp(xi)));
    EXPECT_TRUE(close(ge[i], want)) << "exp(" << xs[i] << ") = " << ge[i] << ", libm " << want;
    const float inner = static_cast<float>(std::exp(static_cast<double>(xs[i] * 0.1f)));
    EXPECT_TRUE(close(gl[i], std::log(static_cast<double>(inner))) || std::fabs(gl[i] - std::log(inner)) < 1e-6)
        << "log(" << inner << ") = " << gl[i];
    EXPECT_TRUE(close(glg[i], std::log(xi)) || std::fabs(glg[i] - std::log(xi)) < 1e-7)
        << "log(" << xs[i] << ") = " << glg[i] << ", libm " << std::log(xi);
  }
}

}  // namespace
}  // namespace recc::test

#include "runtime/kernels/Parallel.h"

namespace recc::test {
namespace {

// A training step (embedding gather + sparse update, MLP, softmax, reductions over the batch)
// run for three steps on `threads` threads with every loop and kernel split into chunks.
std::vector<float> trainThreeSteps(const Graph& step, const std::map<std::string, int64_t>& vocab, int threads) {
  const double grain = setMinWorkPerChunk(1e-9);
  recc_set_threads(threads);
  std::vector<Tensor> inputs = randomInputs(step, vocab, 8, 5);
  ParamState st = initParams(step, 5);
  st.opt = ReccOptimizer{2, 0.01f, 0.9f, 0.999f, 1e-8f, 0.01f, 0};
  CodegenOptions opts;
  opts.maxBatch = 8;
  auto cg = CompiledGraph::compile(step, {step.loss}, opts);
  RunArgs args;
  args.batch = 8;
  for (const Tensor& x : inputs)
    args.inputs.push_back(x.dtype == DType::I32 ? static_cast<const void*>(x.i.data()) : x.f.data());
  for (size_t p = 0; p < step.params.size(); ++p) {
    args.params.push_back(st.values[p].data());
    args.m.push_back(momentData(step, st, p, 1));
    args.v.push_back(momentData(step, st, p, 2));
  }
  float loss = 0;
  args.fetches = {&loss};
  args.opt = &st.opt;
  std::vector<float> out;
  for (int s = 0; s < 3; ++s) {
    ++st.opt.step;
    cg->run(args);
    out.push_back(loss);
  }
  for (auto& v : st.values) out.insert(out.end(), v.begin(), v.end());
  recc_set_threads(0);
  setMinWorkPerChunk(grain);
  return out;
}

TEST(Threads, TrainingStepsAreReproducibleForAThreadCount) {
  TestGraph t;
  ValueId ids = t.ids("item", 9, 3);
  ValueId e = t.op(OpKind::Gather, {t.param({9, 4}, "normal", 0.5), ids});               // [B,3,4]
  ValueId h = t.op(OpKind::Reshape, {e}, Attrs().set("shape", Shape{kB, 12}));
  h = t.op(OpKind::Relu, {t.op(OpKind::Add, {t.op(OpKind::MatMul, {h, t.param({12, 16}, "normal", 0.3)}), t.param({16})})});
  ValueId p = t.op(OpKind::Softmax, {t.op(OpKind::MatMul, {h, t.param({16, 5}, "normal", 0.3)})}, Attrs().set("axis", int64_t{1}));
  ValueId s = t.op(OpKind::Sum, {t.op(OpKind::Mul, {p, t.op(OpKind::Reshape, {t.dense(5)}, Attrs().set("shape", Shape{kB, 5}))})},
                   Attrs().set("axis", int64_t{1}));
  t.g.losses.push_back({t.op(OpKind::Mean, {s}, Attrs().set("axis", int64_t{0})), 1.0, {}});
  bindVocabularies(t.g, t.vocab);
  Graph step = buildTrainStep(t.g);
  std::vector<float> one = trainThreeSteps(step, t.vocab, 1);
  EXPECT_EQ(one, trainThreeSteps(step, t.vocab, 1)) << "1 thread must be bitwise reproducible";
  for (int threads : {2, 3}) {
    std::vector<float> many = trainThreeSteps(step, t.vocab, threads);
    EXPECT_EQ(many, trainThreeSteps(step, t.vocab, threads)) << threads << " threads";
    EXPECT_TRUE(near(many, one, "params after 3 steps", 1e-4, 1e-5)) << threads << " threads";
  }
}

}  // namespace
}  // namespace recc::test
