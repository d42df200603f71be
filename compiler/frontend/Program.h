// A parsed program: the model file and everything it imports, with the global def table.
#pragma once
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "compiler/frontend/Ast.h"
#include "compiler/frontend/Frontend.h"

namespace recc {

struct Program {
  std::vector<std::unique_ptr<ast::Module>> modules;  // in the order read; [0] is the model file
  std::map<std::string, const ast::Def*> defs;        // every def of every module (one namespace)
  const ast::Model* model = nullptr;
  uint64_t sourceHash = 0;                            // FNV-1a 64 over each file's text, in order
};

/// Parses `text` (the contents of `file`) and, recursively, its imports. Imports resolve against
/// the importing file's directory, then opts.includePaths; the file found must lie (after
/// resolving `..` and symlinks) inside `file`'s directory or an include path. Throws DiagError on
/// a missing import, an import outside those directories, an import cycle, a duplicate def, or
/// a file without exactly one model.
Program loadProgram(const std::string& text, const std::string& file, const FrontendOptions& opts);

/// FNV-1a 64, continued from `h` (start with the offset basis 0xcbf29ce484222325).
uint64_t fnv1a(const std::string& bytes, uint64_t h);

}  // namespace recc
