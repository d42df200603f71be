// Checkpoints: parameters, optimizer state, vocabularies and the model's identity, in one
// binary file with a magic, a format version and a checksum; written atomically.
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

}  // namespace recc
