// Stable textual form of a Graph (golden tests, `recc compile --emit=graph|grad`).
#pragma once
#include <string>

#include "compiler/ir/Graph.h"

namespace recc {

/// One line per input, parameter and node:
///   input user_id : id<user> column=user_id
///   param emb.user : f32[|user|,32] init=normal(0.05)
///   %3 = gather(%1, %0) {max_norm=1} : f32[B,32]  @deepfm.rec:12:3  name
/// Locations are printed as file basename:line:col so goldens do not depend on the checkout path.
std::string printGraph(const Graph& g, bool withLocs = true);

}  // namespace recc
