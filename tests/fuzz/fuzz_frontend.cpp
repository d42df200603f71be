// libFuzzer target: the bytes are a .rec source given to the front end (parse, name checks,
// graph building, verification). A DiagError is the expected answer to bad input; anything
// else (another exception, a crash, a hang, a sanitizer report) is a finding.
//
// Imports are not resolved: the file name is in a directory that does not exist and there are
// no include paths, so a relative `import` is a DiagError (the seeds inline zoo/std/*.rec).
#include <cstddef>
#include <cstdint>
#include <string>

#include "compiler/frontend/Frontend.h"
#include "compiler/ir/Diag.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string source(reinterpret_cast<const char*>(data), size);
  try {
    recc::Graph g = recc::buildModelFromString(source, "/nonexistent-recc-fuzz/input.rec");
    (void)g;
  } catch (const recc::DiagError& e) {
    // Every stage must say where and what: an empty message is a finding too.
    if (std::string(e.what()).empty()) __builtin_trap();
  }
  return 0;
}
