// Checkpoints: parameters, optimizer state, vocabularies and the model's identity, in one
// binary file with a magic, a format version and a checksum; written atomically.
//
// Layout (all integers little-endian): "RECCKPT\0", u32 version (1), u64 payload length,
// payload, u64 FNV-1a 64 of the payload. Payload: strings are u64 length + bytes, counts are
// u64, floats are raw IEEE-754 binary32 (see Checkpoint.cpp for the field order).
#pragma once
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "runtime/data/Dataset.h"

namespace recc {

struct Checkpoint {
  std::string modelPath;   // absolute path of the .rec file
  std::string modelName;
  uint64_t sourceHash = 0;
  std::vector<std::pair<std::string, std::string>> overrides;  // --set used at training
  std::vector<std::string> paramNames;
  std::vector<std::vector<int64_t>> paramShapes;
  std::vector<std::vector<float>> params, m, v;
  int32_t optKind = 2;
  int64_t step = 0;        // optimizer steps taken
  int64_t epoch = 0;       // epochs completed
  Vocabularies vocabs;
};

/// Writes `path` atomically: a temporary file in the same directory, flushed and fsync'ed,
/// then renamed over `path`. On any failure the previous file at `path` is untouched and
/// DataError is thrown.
void saveCheckpoint(const std::string& path, const Checkpoint& c);

/// Reads and verifies magic, version and checksum; a truncated, corrupt, foreign or missing
/// file throws DataError saying what is wrong and what to do.
Checkpoint loadCheckpoint(const std::string& path);

/// Test hook: while >= 0, a save fails after writing this many bytes of the temporary file
/// (simulating a full disk or a crash). -1 (the default) turns it off.
void setCheckpointWriteFaultForTesting(int64_t failAfterBytes);

}  // namespace recc
