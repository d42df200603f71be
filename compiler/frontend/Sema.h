// Static checks before building: unknown names and functions, argument lists of direct calls,
// duplicate declarations, recursion between defs. Errors carry the offending token's Loc.
#pragma once
#include "compiler/frontend/Program.h"

namespace recc {

/// Throws DiagError on the first problem found, walking files, defs and the model in order.
void checkProgram(const Program& prog);

}  // namespace recc
