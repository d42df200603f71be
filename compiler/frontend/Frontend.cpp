// Front-end driver: load and parse, check names statically, build the graph, verify it.
#include "compiler/frontend/Frontend.h"

#include <fstream>
#include <sstream>

#include "compiler/frontend/Builder.h"
#include "compiler/frontend/Program.h"
#include "compiler/frontend/Sema.h"
#include "compiler/ir/Verifier.h"

namespace recc {

Graph buildModelFromString(const std::string& source, const std::string& fileName, const FrontendOptions& opts) {
  Program prog = loadProgram(source, fileName, opts);
  checkProgram(prog);
  Graph g;
  Builder(g, prog).build(opts.overrides);
  assignRowRecords(g);
  verify(g);
  return g;
}

Graph buildModel(const std::string& path, const FrontendOptions& opts) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw DiagError(Loc{path, 0, 0}, "cannot read model file '" + path + "'");
  std::stringstream ss;
  ss << in.rdbuf();
  return buildModelFromString(ss.str(), path, opts);
}

}  // namespace recc
