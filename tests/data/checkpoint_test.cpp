// Checkpoints: bitwise round trip, and every way a file can be bad or a save can fail.
#include <cmath>
#include <cstring>
#include <fstream>
#include <iterator>

#include "runtime/data/Checkpoint.h"
#include "tests/data/DataTestUtil.h"

namespace recc {
namespace {

using testing::dataError;
using testing::startsWith;

Checkpoint sample() {
  Checkpoint c;
  c.modelPath = "/abs/zoo/deepfm.rec";
  c.modelName = "deepfm";
  c.sourceHash = 0x0123456789abcdefull;
  c.overrides = {{"dim", "64"}, {"dropout", "0.1"}};
  c.paramNames = {"emb.movie", "fc.b"};
  c.paramShapes = {{3, 2}, {2}};
  c.params = {{1.0f, -0.0f, 1e-38f, 3.4e38f, NAN, -INFINITY}, {0.5f, -2.25f}};
  c.m = {{0, 1, 2, 3, 4, 5}, {6, 7}};
  c.v = {{9, 8, 7, 6, 5, 4}, {3, 2}};
  c.optKind = 1;
  c.step = 123456789012;
  c.epoch = 3;
  c.vocabs["movie"].add("m1");
  c.vocabs["movie"].add("m,2 \"quoted\"");
  c.vocabs["genre"].add("Drama");
  return c;
}

std::string readBytes(const std::string& p) {
  std::ifstream f(p, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(f), {});
}

void writeBytes(const std::string& p, const std::string& b) {
  std::ofstream(p, std::ios::binary) << b;
}

bool sameBits(const std::vector<std::vector<float>>& a, const std::vector<std::vector<float>>& b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i)
    if (a[i].size() != b[i].size() ||
        (!a[i].empty() && std::memcmp(a[i].data(), b[i].data(), 4 * a[i].size()) != 0))
      return false;
  return true;
}

std::string path(const std::string& name) { return testing::tempFile(name, ""); }

TEST(Checkpoint, RoundTripIsBitwise) {
  std::string p = path("rt.ckpt");
  Checkpoint c = sample();
  saveCheckpoint(p, c);
  Checkpoint r = loadCheckpoint(p);
  EXPECT_EQ(r.modelPath, c.modelPath);
  EXPECT_EQ(r.modelName, c.modelName);
  EXPECT_EQ(r.sourceHash, c.sourceHash);
  EXPECT_EQ(r.overrides, c.overrides);
  EXPECT_EQ(r.paramNames, c.paramNames);
  EXPECT_EQ(r.paramShapes, c.paramShapes);
  EXPECT_TRUE(sameBits(r.params, c.params));  // NaN and -0.0 included
  EXPECT_TRUE(sameBits(r.m, c.m));
  EXPECT_TRUE(sameBits(r.v, c.v));
  EXPECT_EQ(r.optKind, 1);
  EXPECT_EQ(r.step, c.step);
  EXPECT_EQ(r.epoch, 3);
  ASSERT_EQ(r.vocabs.size(), 2u);
  EXPECT_TRUE(r.vocabs["movie"] == c.vocabs["movie"]);
  EXPECT_EQ(r.vocabs["movie"].lookup("m,2 \"quoted\""), 3);
  EXPECT_EQ(r.vocabs["movie"].lookup("nope"), 1);
  // Saving the loaded checkpoint gives the same bytes; the magic leads the file.
  std::string p2 = path("rt2.ckpt");
  saveCheckpoint(p2, r);
  EXPECT_EQ(readBytes(p), readBytes(p2));
  EXPECT_EQ(readBytes(p).substr(0, 8), std::string("RECCKPT\0", 8));
}

TEST(Checkpoint, EmptyOptimizerStateRoundTrips) {
  Checkpoint c = sample();
  c.m.clear();
  c.v.clear();
  std::string p = path("sgd.ckpt");
  saveCheckpoint(p, c);
  Checkpoint r = loadCheckpoint(p);
  EXPECT_TRUE(r.m.empty());
  EXPECT_TRUE(sameBits(r.params, c.params));
}

// A moment array of another size than its parameter (a checkpoint written by a damaged
// program: the checksum is right) is refused on load, naming the parameter.
TEST(Checkpoint, MomentOfTheWrongSizeIsAnError) {
  Checkpoint c = sample();
  c.v[1].push_back(1.0f);
  std::string p = path("badmoment.ckpt");
  saveCheckpoint(p, c);
  std::string msg = dataError([&] { loadCheckpoint(p); });
  EXPECT_TRUE(startsWith(msg, p + ": ")) << msg;
  EXPECT_CONTAINS(msg, "optimizer state of " + c.paramNames[1] + " has the wrong size");
}

TEST(Checkpoint, MissingFile) {
  std::string p = path("x.ckpt") + ".missing";
  std::string msg = dataError([&] { loadCheckpoint(p); });
  EXPECT_TRUE(startsWith(msg, p + ": cannot open checkpoint")) << msg;
}

TEST(Checkpoint, TruncatedFile) {
  std::string p = path("trunc.ckpt");
  saveCheckpoint(p, sample());
  std::string bytes = readBytes(p);
  for (size_t keep : {size_t{10}, size_t{20}, bytes.size() / 2, bytes.size() - 1}) {
    writeBytes(p, bytes.substr(0, keep));
    std::string msg = dataError([&] { loadCheckpoint(p); });
    EXPECT_TRUE(startsWith(msg, p + ": ")) << msg;
    EXPECT_CONTAINS(msg, "truncated");
  }
}

TEST(Checkpoint, FlippedByteIsDetected) {
  std::string p = path("flip.ckpt");
  saveCheckpoint(p, sample());
  std::string bytes = readBytes(p);
  // Every payload byte and every checksum byte is covered.
  for (size_t at = 20; at < bytes.size(); at += 7) {
    std::string bad = bytes;
    bad[at] = static_cast<char>(bad[at] ^ 0x10);
    writeBytes(p, bad);
    EXPECT_CONTAINS(dataError([&] { loadCheckpoint(p); }), "is corrupt (checksum mismatch)");
  }
}

// Rewrites `from` as `to` (same length) in a saved checkpoint and signs it again, so that only
// the payload's meaning is wrong. The checksum is FNV-1a over the payload, in the last 8 bytes.
void rewriteSigned(const std::string& p, const std::string& from, const std::string& to) {
  std::string bytes = readBytes(p);
  size_t at = bytes.find(from);
  ASSERT_NE(at, std::string::npos);
  bytes.replace(at, from.size(), to);
  uint64_t h = 1469598103934665603ull;
  for (size_t i = 20; i + 8 < bytes.size(); ++i) h = (h ^ static_cast<unsigned char>(bytes[i])) * 1099511628211ull;
  for (int b = 0; b < 8; ++b) bytes[bytes.size() - 8 + b] = static_cast<char>(h >> (8 * b));
  writeBytes(p, bytes);
}

TEST(Checkpoint, BadVocabularyIsRejected) {
  std::string p = path("vocab.ckpt");
  Checkpoint c = sample();
  c.vocabs["genre"].add("Drame");
  saveCheckpoint(p, c);
  ASSERT_TRUE(loadCheckpoint(p).vocabs["genre"] == c.vocabs["genre"]);  // the rewrite below is all that differs
  rewriteSigned(p, "Drame", "Drama");
  EXPECT_CONTAINS(dataError([&] { loadCheckpoint(p); }), "vocabulary 'genre' lists a token twice");
  saveCheckpoint(p, c);
  rewriteSigned(p, "<pad>", "<PAD>");
  EXPECT_CONTAINS(dataError([&] { loadCheckpoint(p); }), "lacks <pad>/<oov>");
}

TEST(Checkpoint, WrongMagicAndVersion) {
  std::string p = path("magic.ckpt");
  writeBytes(p, "user_id,movie_id\n1,2\n");
  std::string msg = dataError([&] { loadCheckpoint(p); });
  EXPECT_TRUE(startsWith(msg, p + ": not a recc checkpoint")) << msg;
  writeBytes(p, "");
  EXPECT_CONTAINS(dataError([&] { loadCheckpoint(p); }), "not a recc checkpoint");

  saveCheckpoint(p, sample());
  std::string bytes = readBytes(p);
  bytes[8] = 2;  // version field follows the 8-byte magic
  writeBytes(p, bytes);
  EXPECT_CONTAINS(dataError([&] { loadCheckpoint(p); }), "unsupported checkpoint format version 2");
}

TEST(Checkpoint, InterruptedWriteKeepsOldFile) {
  std::string p = path("atomic.ckpt");
  Checkpoint old = sample();
  saveCheckpoint(p, old);
  std::string before = readBytes(p);
  Checkpoint next = sample();
  next.step = 999;
  next.params[1][0] = 42;
  for (int64_t failAt : {0, 5, 100}) {
    setCheckpointWriteFaultForTesting(failAt);
    std::string msg = dataError([&] { saveCheckpoint(p, next); });
    setCheckpointWriteFaultForTesting(-1);
    EXPECT_TRUE(startsWith(msg, p + ": cannot write checkpoint")) << msg;
    EXPECT_EQ(readBytes(p), before);
    std::ifstream tmp(p + ".tmp." + std::to_string(::getpid()));
    EXPECT_FALSE(tmp.good()) << "temporary file left behind";
    EXPECT_EQ(loadCheckpoint(p).step, old.step);
  }
  saveCheckpoint(p, next);  // with the fault off the same save succeeds
  EXPECT_EQ(loadCheckpoint(p).step, 999);
}

TEST(Checkpoint, UnwritableDirectory) {
  std::string msg = dataError([] { saveCheckpoint("/nonexistent-dir-recc/x.ckpt", sample()); });
  EXPECT_TRUE(startsWith(msg, "/nonexistent-dir-recc/x.ckpt: cannot write checkpoint")) << msg;
}

}  // namespace
}  // namespace recc
