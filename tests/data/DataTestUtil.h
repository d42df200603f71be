// Shared helpers for the data tests: fixture paths, temp files, DataError message checks.
#pragma once
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <fstream>
#include <string>

#include "runtime/data/Dataset.h"

namespace recc::testing {

inline std::string fixture(const std::string& name) {
  return std::string(RECC_SOURCE_DIR) + "/tests/data/files/" + name;
}

/// A file under a per-process temp directory, written byte-exactly.
inline std::string tempFile(const std::string& name, const std::string& bytes) {
  std::string dir = ::testing::TempDir() + "recc_data_" + std::to_string(::getpid());
  ::mkdir(dir.c_str(), 0755);  // EEXIST after the first call is fine
  std::string path = dir + "/" + name;
  std::ofstream(path, std::ios::binary) << bytes;
  return path;
}

/// Runs `f`, expects a DataError whose message contains every fragment; returns the message.
template <class F>
std::string dataError(F&& f) {
  try {
    f();
  } catch (const DataError& e) {
    return e.what();
  }
  ADD_FAILURE() << "expected a DataError";
  return "";
}

inline bool startsWith(const std::string& s, const std::string& p) {
  return s.compare(0, p.size(), p) == 0;
}

}  // namespace recc::testing

/// EXPECT that `str` contains `sub`, printing both on failure.
#define EXPECT_CONTAINS(str, sub)                                                     \
  do {                                                                                \
    std::string s_ = (str), sub_ = (sub);                                             \
    EXPECT_NE(s_.find(sub_), std::string::npos) << "'" << s_ << "' lacks '" << sub_ << "'"; \
  } while (0)
