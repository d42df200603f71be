// Fusion decisions: which values are computed inside their consumer's loop instead of memory.
#pragma once
#include <string>
#include <vector>

#include "compiler/ir/Graph.h"

namespace recc {

/// Allow, or a reason why not (XLA's FusionDecision).
struct FusionDecision {
  bool allowed = true;
  std::string reason;
  static FusionDecision allow() { return {}; }
  static FusionDecision forbid(std::string why) { return {false, std::move(why)}; }
  explicit operator bool() const { return allowed; }
};

/// May `producer` be computed in registers inside the loop that computes `consumer`?
/// `producerUses` is the number of operand slots that read the producer in the whole graph.
FusionDecision shouldFuse(const Graph& g, ValueId producer, ValueId consumer, int producerUses);

/// The source [..., 1, D] of a scatter_add's gradient when that is a broadcast_to repeating it
/// over the ids' last axis (the gradient of a multi-hot field's summed lookups), or -1. The
/// kernel then reads each source row once per id: the repeated copy is never stored.
ValueId repeatedGradientSource(const Graph& g, ValueId scatter);

/// The result of fusion over a whole graph.
struct FusionPlan {
  std::vector<int> uses;            // per node: operand slots reading it
  std::vector<bool> materialized;   // per node: has its own storage (caller memory or arena)
  std::vector<bool> emitted;        // per node: code is generated for it (live or side effect)
  /// per node: the schedule step at which its value is read for the last time, following
  /// fused consumers and Reshape aliases to the materialized node whose loop reads it;
  /// nodes.size() = read by the final fetch copy.
  std::vector<int> lastRead;
  /// per node: the node whose buffer holds it (itself, or the root of a Reshape alias chain).
  std::vector<ValueId> storageRoot;
  /// per node: the fetch whose caller buffer it is computed in (its first fetch, for a
  /// materialized node with a buffer of its own), or -1: in the arena, or not stored. Writing
  /// a result where the caller wants it spares copying it there after the run (the derived
  /// tables of inference, passes/Hoisting.h, are megabytes).
  std::vector<int> fetchSlot;
  /// per node: where in the schedule its loop runs. Sibling loops over one iteration space that
  /// read the same buffers run as one loop with several results, at the first one's place
  /// (multi-output fusion): the column sums of a layer's gradient beside the gradient itself,
  /// Dice's three parameter sums over one [B,T,C] activation. Otherwise the node itself.
  std::vector<ValueId> loopAt;
};

/// The iteration space of a loop computing `members` (loopAt), and in *split the first
/// dimension of it that no sum_to member reduces (the loop is cut over the threads along it).
Shape groupSpace(const Graph& g, const std::vector<ValueId>& members, int* split);

/// Whether node i of g is computed by a loop nest of its own (a materialized fused-loop value).
bool isLoopNode(const Graph& g, const FusionPlan& f, size_t i);

FusionPlan planFusion(const Graph& g, const std::vector<ValueId>& fetches);

}  // namespace recc
