// The diagnostics catalogue, shared by the front-end test (the DiagError) and the driver test
// (the rendered error and exit code of `recc check`). Every file in tests/frontend/diagnostics/
// starts with
//   # expect: [file.rec:]line:col: message
// naming the location (in the file itself unless another file is named) and the whole message,
// or its beginning followed by " ..." when the rest holds paths of the machine running the test.
#pragma once
#include <algorithm>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

namespace recc_test {

struct DiagExpectation {
  std::string file;  // basename of the file the error must point into
  int line = 0, col = 0;
  std::string message;
  bool prefix = false;  // the message only has to start with `message`
  bool valid = false;   // the first line had the expected form
  bool matches(const std::string& got) const { return prefix ? got.rfind(message, 0) == 0 : got == message; }
};

inline const std::string& diagnosticsDir() {
  static const std::string dir = std::string(RECC_SOURCE_DIR) + "/tests/frontend/diagnostics";
  return dir;
}

inline DiagExpectation parseDiagExpectation(const std::filesystem::path& p) {
  std::ifstream in(p);
  std::string first;
  std::getline(in, first);
  DiagExpectation e;
  const std::string tag = "# expect: ";
  if (first.rfind(tag, 0) != 0) return e;
  std::string rest = first.substr(tag.size());
  e.file = p.filename().string();
  size_t c1 = rest.find(':');
  if (rest.substr(0, c1).find(".rec") != std::string::npos) {
    e.file = rest.substr(0, c1);
    rest = rest.substr(c1 + 1);
    c1 = rest.find(':');
  }
  size_t c2 = rest.find(':', c1 + 1);
  if (c1 == std::string::npos || c2 == std::string::npos || c2 + 2 > rest.size()) return e;
  e.line = std::stoi(rest.substr(0, c1));
  e.col = std::stoi(rest.substr(c1 + 1, c2 - c1 - 1));
  e.message = rest.substr(c2 + 2);
  const std::string more = " ...";
  if (e.message.size() > more.size() && e.message.compare(e.message.size() - more.size(), more.size(), more) == 0) {
    e.prefix = true;
    e.message.resize(e.message.size() - more.size());
  }
  e.valid = true;
  return e;
}

inline std::vector<std::filesystem::path> diagnosticFiles() {
  std::vector<std::filesystem::path> out;
  for (const auto& entry : std::filesystem::directory_iterator(diagnosticsDir()))
    if (entry.path().extension() == ".rec") out.push_back(entry.path());
  std::sort(out.begin(), out.end());
  return out;
}

}  // namespace recc_test
