// Builtin functions of the language (relu, sum, dense, embedding, ...) and argument binding.
#pragma once
#include <string>
#include <vector>

#include "compiler/frontend/Ast.h"
#include "compiler/frontend/Value.h"

namespace recc {

class Builder;

/// A builtin call after argument binding: one value per declared parameter, in order.
struct CallSite {
  std::string name;
  std::vector<Value> args;
  std::vector<Loc> argLocs;  // the call's location for defaulted parameters
  Loc loc;
  bool ownScope = false;  // the call is the whole right side of a model-level binding
};

struct BuiltinInfo {
  std::string name;
  std::vector<std::string> params;
  size_t required = 0;          // the first `required` params have no default
  std::vector<Value> defaults;  // for params[required..]
  Value (*fn)(Builder&, CallSite&) = nullptr;
  bool special = false;  // evaluated by the Builder itself (scan: variadic, calls a function)
};

const BuiltinInfo* findBuiltin(const std::string& name);

/// Matches call arguments to parameters: result[p] is the index in `args` bound to parameter
/// p, or -1 (use the default). Throws DiagError for too many arguments, an unknown or repeated
/// keyword, a positional argument after a keyword one, or a missing required argument.
std::vector<int> bindArgs(const std::string& fname, const std::vector<std::string>& params,
                          size_t required, const std::vector<ast::Arg>& args, const Loc& callLoc);

/// The same over (keyword name or "", location) pairs, for calls made by the builder itself.
struct ArgName {
  std::string name;
  Loc loc;
};
std::vector<int> bindArgs(const std::string& fname, const std::vector<std::string>& params,
                          size_t required, const std::vector<ArgName>& args, const Loc& callLoc);

}  // namespace recc
