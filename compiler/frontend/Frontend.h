// The front end: a .rec file (and what it imports) -> a verified forward Graph.
#pragma once
#include <string>
#include <utility>
#include <vector>

#include "compiler/ir/Graph.h"

namespace recc {

struct FrontendOptions {
  // Searched for `import "..."` after the importing file's own directory; with the model file's
  // directory, the only directories imports may read from (-I DIR).
  std::vector<std::string> includePaths;
  std::vector<std::pair<std::string, std::string>> overrides;  // --set name=value (hyperparameters)
};

/// Parses, resolves names, inlines `def` blocks, evaluates hyperparameters and builds the
/// forward graph of the (single) model in `path`. Vocabulary dims stay symbolic (|movie|).
/// Every user error throws DiagError with the file:line:col of the offending token.
Graph buildModel(const std::string& path, const FrontendOptions& opts = {});

/// Same, from source text (tests); `fileName` is used in locations.
Graph buildModelFromString(const std::string& source, const std::string& fileName,
                           const FrontendOptions& opts = {});

}  // namespace recc
