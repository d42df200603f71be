// planShards(): which values a shard computes from its own rows, which are sums over the batch,
// and which need the whole batch; then the two graphs.
#include "compiler/codegen/Sharding.h"

#include <algorithm>

namespace recc {

namespace {

// Free: no rows and no dependence on them (params, constants); Rows: has the batch dim (each
// row from the same rows of its operands); Cut: a sum over the batch of row values (a partial
// sum per shard); Replica: such a sum totalled across the shards in the pass (shard_sum), or
// computed from totals and Free values: the same in every shard; Whole: needs the whole batch
// once (updates, embedding gradients, whatever reads partial sums).
enum class Part { Free, Rows, Cut, Replica, Whole };

bool batchAt(const Shape& s, int64_t axis) {
  return axis >= 0 && static_cast<size_t>(axis) < s.size() && s[static_cast<size_t>(axis)].isBatch();
}

// Why a node with rows that reads row values would mix rows, or "".
std::string mixesRows(const Graph& g, const Node& n) {
  const Shape& in = g.at(n.inputs[0]).shape;
  switch (n.op) {
    case OpKind::Concat:
    case OpKind::Slice:
      return batchAt(n.shape, n.attrs.i("axis")) ? "works along the batch axis" : "";
    case OpKind::Softmax:
    case OpKind::LogSoftmax:
      return batchAt(in, n.attrs.i("axis")) ? "normalises along the batch axis" : "";
    case OpKind::LayerNorm: return batchAt(in, static_cast<int64_t>(in.size()) - 1) ? "normalises along the batch axis" : "";
    case OpKind::Gather: return n.attrs.f("max_norm") != 0 ? "renormalises table rows in place" : "";
    case OpKind::Dropout: return batchAt(n.shape, 0) ? "" : "has the batch axis inside (dropout masks index whole rows)";
    default: return "";
  }
}

bool isCut(const Node& n) {
  switch (n.op) {
    case OpKind::Sum:
    case OpKind::Mean:
    case OpKind::SumTo:
    case OpKind::MatMul: return true;  // a product contracting over the batch
    default: return false;
  }
}

bool sideEffect(const Node& n) { return opInfo(n.op).cls == OpClass::Update || n.op == OpKind::ScatterAdd; }

bool meanOverBatch(const Graph& g, const Node& n) {
  return n.op == OpKind::Mean && batchAt(g.at(n.inputs[0]).shape, n.attrs.i("axis"));
}

// Marks v and the Free values it reads (transitively) as needed.
void needFree(const Graph& g, const std::vector<Part>& part, std::vector<bool>& need, ValueId v) {
  if (need[static_cast<size_t>(v)]) return;
  need[static_cast<size_t>(v)] = true;
  for (ValueId in : g.at(v).inputs)
    if (part[static_cast<size_t>(in)] == Part::Free) needFree(g, part, need, in);
}

// Marks for summing across the shards the cuts that the whole-batch values v reads are made of;
// false if one of them is a side effect's result (a scatter_add's table gradient).
bool sumCutsBehind(const Graph& g, const std::vector<Part>& part, std::vector<bool>& summed, ValueId v) {
  const Node& n = g.at(v);
  if (part[static_cast<size_t>(v)] == Part::Cut) return summed[static_cast<size_t>(v)] = true;
  if (part[static_cast<size_t>(v)] != Part::Whole) return true;
  if (sideEffect(n)) return false;
  for (ValueId in : n.inputs)
    if (!sumCutsBehind(g, part, summed, in)) return false;
  return true;
}

Node leaf(OpKind op, int64_t index, DType dtype, Shape shape) {
  Node n;
  n.op = op;
  n.attrs.set("index", index);
  n.dtype = dtype;
  n.shape = std::move(shape);
  return n;
}

// g's inputs and params (the parts' own follow them), none of its nodes.
Graph withoutNodes(const Graph& g) {
  Graph part;
  part.model = g.model;
  part.sourceHash = g.sourceHash;
  part.inputs = g.inputs;
  part.params = g.params;
  return part;
}

ValueId append(Graph& g, Node n) {
  g.nodes.push_back(std::move(n));
  return static_cast<ValueId>(g.nodes.size() - 1);
}

}  // namespace

std::optional<ShardPlan> planShards(const Graph& g, const std::vector<ValueId>& fetches, std::string* whyNot) {
  const size_t count = g.nodes.size();
  std::vector<Part> part(count, Part::Free);
  std::vector<bool> summed(count, false);  // cuts summed across the shards in the pass
  auto refuse = [&](const Node& n, const std::string& why) -> std::optional<ShardPlan> {
    if (whyNot) *whyNot = std::string(opName(n.op)) + " " + shapeStr(n.shape) + " " + why;
    return std::nullopt;
  };
  // Classify; a row value that reads a whole-batch value makes the cuts behind it summed in
  // the pass, and the classification starts again (each round sums at least one more cut).
  for (bool again = true; again;) {
    again = false;
    for (size_t v = 0; v < count && !again; ++v) {
      const Node& n = g.nodes[v];
      bool rowIn = false, wholeIn = false, replicaIn = false;
      for (ValueId in : n.inputs) {
        const Part p = part[static_cast<size_t>(in)];
        rowIn |= p == Part::Rows;
        wholeIn |= p == Part::Cut || p == Part::Whole;
        replicaIn |= p == Part::Replica;
      }
      const bool rows = hasBatch(n.shape);
      Part& p = part[v];
      if (sideEffect(n)) {
        p = Part::Whole;
      } else if (wholeIn && rows) {
        const size_t before = static_cast<size_t>(std::count(summed.begin(), summed.end(), true));
        for (ValueId in : n.inputs)
          if (!sumCutsBehind(g, part, summed, in))
            return refuse(n, "reads the result of an update or embedding gradient");
        if (static_cast<size_t>(std::count(summed.begin(), summed.end(), true)) == before)
          return refuse(n, "reads a value computed from the whole batch");
        again = true;
      } else if (wholeIn) {
        p = Part::Whole;
      } else if (rows) {
        p = Part::Rows;
        if (rowIn)
          if (std::string why = mixesRows(g, n); !why.empty()) return refuse(n, why);
      } else if (rowIn && n.op == OpKind::BatchMoments) {
        p = Part::Replica;  // the kernel sums its statistics over the shards itself
      } else if (rowIn && isCut(n)) {
        p = summed[v] ? Part::Replica : Part::Cut;
      } else if (rowIn) {
        return refuse(n, "reduces over the batch (not a sum)");
      } else {
        p = replicaIn ? Part::Replica : Part::Free;
      }
    }
  }

  // A reshape or broadcast of row values that only the whole-batch part reads (a multi-hot
  // field's gradient, repeated over its ids for the scatter_add) is done there, on the rows
  // it reads: exported repeated, it would be stored and copied out that many times over.
  std::vector<bool> fetched(count, false);
  for (ValueId f : fetches) fetched[static_cast<size_t>(f)] = true;
  std::vector<std::vector<ValueId>> users(count);
  for (size_t v = 0; v < count; ++v)
    for (ValueId in : g.nodes[v].inputs) users[static_cast<size_t>(in)].push_back(static_cast<ValueId>(v));
  for (size_t v = count; v-- > 0;) {
    const OpKind op = g.nodes[v].op;
    if (part[v] != Part::Rows || fetched[v] || users[v].empty() || (op != OpKind::Reshape && op != OpKind::BroadcastTo))
      continue;
    if (std::all_of(users[v].begin(), users[v].end(), [&](ValueId u) { return part[static_cast<size_t>(u)] == Part::Whole; }))
      part[v] = Part::Whole;
  }

  ShardPlan plan;
  // What the whole graph reads from the shards: cuts and replicas as params, row values as
  // inputs copied out by each shard at its row offset (the batch must lead; the model's inputs
  // are read directly).
  std::vector<bool> imported(count, false), exported(count, false);
  for (size_t v = 0; v < count; ++v) {
    if (part[v] != Part::Whole) continue;
    for (ValueId in : g.nodes[v].inputs) {
      const auto i = static_cast<size_t>(in);
      const Node& x = g.at(in);
      if (part[i] == Part::Cut || part[i] == Part::Replica) imported[i] = true;
      if (part[i] != Part::Rows || x.op == OpKind::Input) continue;
      if (!batchAt(x.shape, 0)) return refuse(x, "is read by the whole-batch part but the batch does not lead");
      exported[i] = true;
    }
  }
  for (ValueId f : fetches) {
    const auto i = static_cast<size_t>(f);
    if (part[i] == Part::Rows && !batchAt(g.at(f).shape, 0))
      return refuse(g.at(f), "is fetched but the batch does not lead");
    if (part[i] == Part::Cut || part[i] == Part::Replica) imported[i] = true;
  }

  // The per-shard graph: every Rows, Cut and Replica node, the Free ones they read.
  std::vector<bool> need(count, false);
  for (size_t v = 0; v < count; ++v)
    if (part[v] == Part::Rows || part[v] == Part::Cut || part[v] == Part::Replica)
      needFree(g, part, need, static_cast<ValueId>(v));
  Graph& r = plan.rows = withoutNodes(g);
  std::vector<ValueId> inRows(count, -1);
  ValueId batchParam = -1;
  auto batchSize = [&] {
    if (batchParam < 0) {
      batchParam = append(r, leaf(OpKind::Param, static_cast<int64_t>(r.params.size()), DType::F32, {}));
      ParamDecl d;
      d.name = "shard.batch_size";
      r.params.push_back(d);
      plan.batchParam = true;
    }
    return batchParam;
  };
  for (size_t v = 0; v < count; ++v) {
    if (!need[v]) continue;
    Node n = g.nodes[v];
    for (ValueId& in : n.inputs) in = inRows[static_cast<size_t>(in)];
    if (n.op == OpKind::BatchSize) {
      inRows[v] = batchSize();
      continue;
    }
    plan.barriers |= n.op == OpKind::BatchMoments;
    const Loc loc = n.loc;
    if (meanOverBatch(g, g.nodes[v])) {  // sum of the shard's rows / the whole batch's B
      n.op = OpKind::Sum;
      const ValueId sum = append(r, n);
      Node div;
      div.op = OpKind::Div;
      div.inputs = {sum, batchSize()};
      div.shape = n.shape;
      div.loc = loc;
      inRows[v] = append(r, div);
    } else {
      inRows[v] = append(r, std::move(n));
    }
    if (summed[v]) {
      Node total;
      total.op = OpKind::ShardSum;
      total.inputs = {inRows[v]};
      total.shape = g.nodes[v].shape;
      total.loc = loc;
      inRows[v] = append(r, total);
      plan.barriers = true;
    }
  }
  std::vector<size_t> cutIndex(count, 0);
  for (size_t v = 0; v < count; ++v)
    if (imported[v]) {
      cutIndex[v] = plan.rowFetches.size();
      plan.rowFetches.push_back(inRows[v]);
      plan.cutIsPartial.push_back(part[v] == Part::Cut);
    }
  plan.cuts = plan.rowFetches.size();
  for (size_t v = 0; v < count; ++v)
    if (exported[v]) plan.rowFetches.push_back(inRows[v]);
  plan.exports = plan.rowFetches.size() - plan.cuts;

  // The whole-batch graph: Whole nodes, reading cuts and replicas as params, exports (and the
  // model's inputs) as inputs, and the Free nodes they need.
  std::fill(need.begin(), need.end(), false);
  for (size_t v = 0; v < count; ++v)
    if (part[v] == Part::Whole) needFree(g, part, need, static_cast<ValueId>(v));
  for (ValueId f : fetches)
    if (part[static_cast<size_t>(f)] == Part::Free) needFree(g, part, need, f);
  Graph& w = plan.whole = withoutNodes(g);
  std::vector<ValueId> inWhole(count, -1);
  for (size_t v = 0; v < count; ++v) {
    const Node& n = g.nodes[v];
    if (imported[v]) {
      ParamDecl d;
      d.name = "shard.total" + std::to_string(cutIndex[v]);
      d.shape = n.shape;
      inWhole[v] = append(w, leaf(OpKind::Param, static_cast<int64_t>(w.params.size()), DType::F32, n.shape));
      w.params.push_back(d);
    } else if (exported[v]) {
      // An input [B] or [B, row elements] (what an input declaration can say), reshaped back.
      InputDecl d;
      d.name = "shard.rows" + std::to_string(w.inputs.size() - g.inputs.size());
      const bool ids = n.dtype == DType::I32;
      d.kind = n.shape.size() == 1 ? (ids ? InputKind::Id : InputKind::Dense) : (ids ? InputKind::Ids : InputKind::Dense);
      d.length = n.shape.size() == 1 ? 0 : numElements(n.shape, 1);
      Shape flat = {kB};
      if (d.length > 0) flat.push_back(d.length);
      inWhole[v] = append(w, leaf(OpKind::Input, static_cast<int64_t>(w.inputs.size()), n.dtype, flat));
      w.inputs.push_back(d);
      if (flat != n.shape) {
        Node reshape;
        reshape.op = OpKind::Reshape;
        reshape.inputs = {inWhole[v]};
        reshape.attrs.set("shape", n.shape);
        reshape.dtype = n.dtype;
        reshape.shape = n.shape;
        inWhole[v] = append(w, reshape);
      }
    } else if (n.op == OpKind::Input || need[v]) {
      Node copy = n;
      for (ValueId& in : copy.inputs) in = inWhole[static_cast<size_t>(in)];
      inWhole[v] = append(w, std::move(copy));
      plan.hasWhole |= part[v] == Part::Whole;
    }
  }

  for (ValueId f : fetches) {
    const auto fv = static_cast<size_t>(f);
    if (part[fv] == Part::Rows) {
      plan.fetchFrom.emplace_back(ShardPlan::From::Rows, plan.rowFetches.size());
      plan.rowFetches.push_back(inRows[fv]);
    } else if (imported[fv]) {
      plan.fetchFrom.emplace_back(ShardPlan::From::Cut, cutIndex[fv]);
    } else {
      plan.fetchFrom.emplace_back(ShardPlan::From::Whole, plan.wholeFetches.size());
      plan.wholeFetches.push_back(inWhole[fv]);
      plan.hasWhole = true;
    }
  }
  return plan;
}

}  // namespace recc
