// Test helper: runs the recc binary and captures exit code and output.
#pragma once
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <sstream>
#include <string>

namespace recc_test {

struct RunResult {
  int code = -1;
  std::string out;  // stdout and stderr interleaved
};

inline RunResult runRecc(const std::string& args) {
  std::string cmd = std::string(RECC_BINARY) + " " + args + " 2>&1";
  RunResult r;
  FILE* p = popen(cmd.c_str(), "r");
  if (!p) return r;
  std::array<char, 4096> buf{};
  size_t n;
  while ((n = fread(buf.data(), 1, buf.size(), p)) > 0) r.out.append(buf.data(), n);
  int status = pclose(p);
  r.code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return r;
}

inline std::string src(const std::string& rel) { return std::string(RECC_SOURCE_DIR) + "/" + rel; }

inline std::string tmpPath(const std::string& name) {
  return std::string(::testing::TempDir()) + "recc_" + std::to_string(::getpid()) + "_" + name;
}

inline std::string readFile(const std::string& path) {
  std::ifstream f(path);
  std::stringstream s;
  s << f.rdbuf();
  return s.str();
}

/// Value of a numeric key in the flat metrics JSON written by --metrics-json (NaN if absent).
inline double jsonNumber(const std::string& json, const std::string& key) {
  auto p = json.find("\"" + key + "\"");
  if (p == std::string::npos) return std::nan("");
  p = json.find(':', p);
  return std::stod(json.substr(p + 1));
}

}  // namespace recc_test
