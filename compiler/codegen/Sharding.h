// Data parallelism over the batch ("shards"): the rows of a recommender's batch are computed
// independently of each other up to the sums over the batch (the loss, the weight gradients),
// so a run can give each thread a range of rows and the whole graph for them: one pass over
// its own data on one core, with no hand-off between threads inside it. Compared with
// splitting every op over the threads, a step of a small model loses its hundreds of
// synchronisations and the cross-core reads after each of them.
//
// planShards() splits a graph into
//   `rows`:  every value with batch rows, plus the sums over the batch (each shard fetches its
//            partial sum; the partials are added in shard order);
//   `whole`: what needs the whole batch's results once: optimizer updates on the summed
//            gradients, and embedding gradients (scatter_add and sparse updates, which read the
//            shards' rows of their operands from one [B, ...] buffer the shards fill).
// A statistic over the batch that rows read back (batch norm's, a loss normalised by the batch's
// count) is summed across the shards in the middle of their pass (shard_sum, a barrier; the
// batch_moments kernel sums its statistics the same way), so every shard continues with the whole
// batch's value. Graphs where rows interact otherwise (a max or softmax over the batch, a concat
// along it, lookups that renormalise table rows in place) have no split.
#pragma once
#include <optional>
#include <string>
#include <vector>

#include "compiler/ir/Graph.h"

namespace recc {

struct ShardPlan {
  /// Run per shard on its rows. Params: the model's, then (if batchParam) the whole batch's
  /// size as an f32 [] (B inside a shard is its row count; means over the batch divide by this).
  Graph rows;
  /// Fetches of `rows`: the values without rows that the whole graph reads (cuts: partial
  /// sums to add up when cutIsPartial, else the same in every shard), then the exported row
  /// values (exports), then the row values the caller fetched.
  std::vector<ValueId> rowFetches;
  size_t cuts = 0, exports = 0;
  std::vector<bool> cutIsPartial;
  bool batchParam = false;
  /// The shards meet at barriers (shard_sum, batch_moments): they must run at once.
  bool barriers = false;
  /// Run once after the shards (empty: no node). Params: the model's, then one per cut (its
  /// total); inputs: the model's, then one per export ([B, ...], every shard's rows).
  Graph whole;
  std::vector<ValueId> wholeFetches;
  bool hasWhole = false;
  /// Where each of the caller's fetches comes from: index into rowFetches (Rows; row values
  /// only), a cut (Cut), or wholeFetches (Whole).
  enum class From { Rows, Cut, Whole };
  std::vector<std::pair<From, size_t>> fetchFrom;
};

/// The split of `g` fetching `fetches`, or nullopt with the reason (naming the op) in *whyNot.
std::optional<ShardPlan> planShards(const Graph& g, const std::vector<ValueId>& fetches, std::string* whyNot);

}  // namespace recc
