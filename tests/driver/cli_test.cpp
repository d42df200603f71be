// The recc command line: usage errors, check/compile output, and model errors as file:line:col.
#include <gtest/gtest.h>
#include <unistd.h>

#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>

#include "tests/driver/RunRecc.h"

using namespace recc_test;

TEST(Cli, UnknownCommandAndFlag) {
  RunResult r = runRecc("frobnicate x.rec");
  EXPECT_EQ(r.code, 2);
  EXPECT_NE(r.out.find("unknown command 'frobnicate'"), std::string::npos) << r.out;
  r = runRecc("check " + src("zoo/deepfm.rec") + " --bogus 1");
  EXPECT_EQ(r.code, 2);
  EXPECT_NE(r.out.find("unknown flag --bogus"), std::string::npos) << r.out;
  r = runRecc("train " + src("zoo/deepfm.rec") + " --train " + src("data/ctr_train.csv"));
  EXPECT_EQ(r.code, 2);
  EXPECT_NE(r.out.find("missing --test"), std::string::npos) << r.out;
}

TEST(Cli, BadFlagValue) {
  RunResult r = runRecc("train " + src("zoo/deepfm.rec") + " --train " + src("data/ctr_train.csv") + " --test " +
                        src("data/ctr_test.csv") + " --epochs zero");
  EXPECT_EQ(r.code, 2);
  EXPECT_NE(r.out.find("--epochs: 'zero' is not a number"), std::string::npos) << r.out;
}

TEST(Cli, ThreadsMustBeACount) {
  for (const char* bad : {"0", "-2", "two", "1000"}) {
    RunResult r = runRecc("compile " + src("zoo/deepfm.rec") + " --threads " + bad);
    EXPECT_EQ(r.code, 2) << bad;
    EXPECT_NE(r.out.find("--threads: '" + std::string(bad) + "' is not a thread count (1 to 256)"), std::string::npos)
        << r.out;
  }
  EXPECT_EQ(runRecc("compile " + src("zoo/deepfm.rec") + " --threads 1").code, 0);
}

// The second compile of a model reuses the object code of the first (compiler/codegen/Jit.h:
// DiskObjectCache); a damaged entry is ignored and rebuilt; RECC_NO_CACHE=1 turns it off.
TEST(Cli, CompileReusesCachedObjectCode) {
  std::string dir = tmpPath("cache");
  std::filesystem::remove_all(dir);
  ::setenv("XDG_CACHE_HOME", dir.c_str(), 1);
  const std::string cmd = "compile " + src("zoo/din.rec") + " --threads 2";
  const std::string cached = "(object code from the cache)";
  RunResult first = runRecc(cmd);
  ASSERT_EQ(first.code, 0) << first.out;
  EXPECT_EQ(first.out.find(cached), std::string::npos) << first.out;
  RunResult second = runRecc(cmd);
  ASSERT_EQ(second.code, 0) << second.out;
  EXPECT_NE(second.out.find(cached), std::string::npos) << second.out;
  // Flip a byte in the middle of every entry: the checksum rejects it, the compile rebuilds it.
  int entries = 0;
  for (const auto& e : std::filesystem::directory_iterator(dir + "/recc")) {
    std::fstream f(e.path(), std::ios::in | std::ios::out | std::ios::binary);
    f.seekp(static_cast<std::streamoff>(std::filesystem::file_size(e.path()) / 2));
    f.put('\x5a');
    ++entries;
  }
  // 2 threads, 2 shards: the training step's per-shard and whole-batch parts and its derived
  // parameters (run whole, once per step), inference's per-shard part (it has no whole-batch
  // part) and its derived parameters.
  EXPECT_EQ(entries, 5) << "three entries for the training step, two for inference";
  RunResult damaged = runRecc(cmd);
  ASSERT_EQ(damaged.code, 0) << damaged.out;
  EXPECT_EQ(damaged.out.find(cached), std::string::npos) << damaged.out;
  EXPECT_NE(runRecc(cmd).out.find(cached), std::string::npos) << "the rebuilt entry is used";
  ::setenv("RECC_NO_CACHE", "1", 1);
  EXPECT_EQ(runRecc(cmd).out.find(cached), std::string::npos);
  ::unsetenv("RECC_NO_CACHE");
  ::unsetenv("XDG_CACHE_HOME");
  std::filesystem::remove_all(dir);
}

// The benchmark's own model (bench/sparse) stays a valid model, and its tables, declared
// `embedding(..., sparse = true)`, get row-sparse updates.
TEST(Cli, BenchModelChecks) {
  RunResult r = runRecc("check " + src("bench/sparse.rec"));
  EXPECT_EQ(r.code, 0) << r.out;
  RunResult d = runRecc("compile " + src("bench/sparse.rec") + " --emit=grad");
  ASSERT_EQ(d.code, 0) << d.out;
  EXPECT_NE(d.out.find("sparse_update("), std::string::npos) << d.out;
  EXPECT_EQ(d.out.find("scatter_add("), std::string::npos) << d.out;
}

TEST(Cli, CheckPrintsShapesAndParameterCount) {
  RunResult r = runRecc("check " + src("zoo/deepfm.rec"));
  ASSERT_EQ(r.code, 0) << r.out;
  EXPECT_NE(r.out.find("f32[B,4,32]"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("parameters: "), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("*|movie|"), std::string::npos) << r.out;
  r = runRecc("check " + src("zoo/deepfm.rec") + " --data " + src("data/ctr_test.csv"));
  ASSERT_EQ(r.code, 0) << r.out;
  EXPECT_EQ(r.out.find("|movie|"), std::string::npos) << "vocabularies bound from --data:\n" << r.out;
}

TEST(Cli, SetOverridesHyperparameter) {
  RunResult r = runRecc("check " + src("zoo/deepfm.rec") + " --set dim=8");
  ASSERT_EQ(r.code, 0) << r.out;
  EXPECT_NE(r.out.find("f32[B,4,8]"), std::string::npos) << r.out;
  r = runRecc("check " + src("zoo/deepfm.rec") + " --set nosuch=3");
  EXPECT_NE(r.code, 0);
  EXPECT_NE(r.out.find("nosuch"), std::string::npos) << r.out;
}

TEST(Cli, ModelErrorIsFileLineCol) {
  std::string path = tmpPath("bad.rec");
  {
    std::ofstream f(path);
    f << "model M(dim = 4) {\n  input u : id<user>\n  label y : binary\n  e = embedding(dim)\n"
         "  x = concat([e(u), sum(e(u), axis = 1)], axis = 1)\n  output prob = sigmoid(x)\n}\n";
  }
  RunResult r = runRecc("check " + path);
  EXPECT_EQ(r.code, 1);
  EXPECT_NE(r.out.find("bad.rec:5:"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("error:"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("^"), std::string::npos) << "caret line:\n" << r.out;
}

// The rewrites weigh their costs at --batch: at 1024 (the default) ALS-MLP's user tower runs per
// user (612 rows in ctr_train.csv), at 64 per lookup.
TEST(Cli, CompileWeighsRewritesAtTheBatch) {
  const std::string cmd = "compile " + src("zoo/als_mlp.rec") + " --data " + src("data/ctr_train.csv") + " --emit=grad";
  RunResult byDefault = runRecc(cmd);
  ASSERT_EQ(byDefault.code, 0) << byDefault.out;
  EXPECT_NE(byDefault.out.find("f32[612,256]"), std::string::npos) << byDefault.out;
  RunResult small = runRecc(cmd + " --batch 64");
  ASSERT_EQ(small.code, 0) << small.out;
  EXPECT_EQ(small.out.find("f32[612,256]"), std::string::npos) << small.out;
  EXPECT_EQ(runRecc(cmd + " --batch 0").code, 2);
}

// At inference both of ALS-MLP's towers depend on one id each: they become derived tables,
// computed once per parameter version, and the per-batch graph only looks them up.
TEST(Cli, InferenceHoistsParameterOnlyWork) {
  RunResult r = runRecc("compile " + src("zoo/als_mlp.rec") + " --data " + src("data/ctr_train.csv") + " --emit=infer");
  ASSERT_EQ(r.code, 0) << r.out;
  const size_t prep = r.out.find("; ---- once per parameter version");
  ASSERT_NE(prep, std::string::npos) << r.out;
  const std::string perBatch = r.out.substr(0, prep), once = r.out.substr(prep);
  EXPECT_NE(perBatch.find("param hoisted0 : f32[612,128] derived"), std::string::npos) << perBatch;
  EXPECT_NE(perBatch.find("param hoisted1 : f32[8919,128] derived"), std::string::npos) << perBatch;
  EXPECT_EQ(perBatch.find("matmul("), std::string::npos) << perBatch;
  EXPECT_NE(once.find("matmul("), std::string::npos) << once;
  EXPECT_EQ(once.find("input()"), std::string::npos) << once;
}

TEST(Cli, CompileEmitsEveryStage) {
  RunResult g = runRecc("compile " + src("zoo/deepfm.rec") + " --emit=graph");
  ASSERT_EQ(g.code, 0) << g.out;
  EXPECT_NE(g.out.find("gather("), std::string::npos);
  RunResult d = runRecc("compile " + src("zoo/deepfm.rec") + " --emit=grad");
  ASSERT_EQ(d.code, 0) << d.out;
  EXPECT_NE(d.out.find("scatter_add("), std::string::npos);
  EXPECT_NE(d.out.find(" update("), std::string::npos);
  EXPECT_EQ(d.out.find("sparse_update("), std::string::npos) << "DeepFM's tables are not declared sparse";
  RunResult l = runRecc("compile " + src("zoo/deepfm.rec") + " --emit=llvm");
  ASSERT_EQ(l.code, 0) << l.out.substr(0, 2000);
  EXPECT_NE(l.out.find("call void @recc_rt_run_calls"), std::string::npos);
  EXPECT_NE(l.out.find("ptr null, ptr @matmul"), std::string::npos) << "a product in a run list";
  EXPECT_NE(l.out.find("define void @recc_entry"), std::string::npos);
}
