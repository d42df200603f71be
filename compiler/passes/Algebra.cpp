// factorConcatMatmuls: matmul over a concat of linear combinations, factored per distinct operand.
#include "compiler/passes/Algebra.h"
#include "compiler/passes/Autodiff.h"

#include <map>
#include <utility>
#include <vector>

namespace recc {

namespace {

constexpr int64_t kPartialSumCost = 8;  // multiplications per element of an outer product's result

struct Term {
  ValueId atom;
  int sign;
};

/// part = sum of sign * atom through Add / Sub / Neg nodes of the part's own shape (no
/// broadcasting inside), a few levels deep.
void decompose(const Graph& g, ValueId v, int sign, int depth, std::vector<Term>& out) {
  const Node& n = g.at(v);
  auto sameShape = [&](ValueId x) { return g.at(x).shape == n.shape; };
  if (depth < 4 && n.inputs.size() == 2 && (n.op == OpKind::Add || n.op == OpKind::Sub) && sameShape(n.inputs[0]) &&
      sameShape(n.inputs[1])) {
    decompose(g, n.inputs[0], sign, depth + 1, out);
    decompose(g, n.inputs[1], n.op == OpKind::Sub ? -sign : sign, depth + 1, out);
    return;
  }
  if (depth < 4 && n.op == OpKind::Neg) {
    decompose(g, n.inputs[0], -sign, depth + 1, out);
    return;
  }
  out.push_back({v, sign});
}

/// The operand an atom can be multiplied in before broadcasting: x for broadcast_to(x) (or a
/// reshape of it) when only leading dimensions are broadcast; else the atom itself.
ValueId unbroadcast(const Graph& g, ValueId atom) {
  const Node& n = g.at(atom);
  if (n.op != OpKind::BroadcastTo) return atom;
  const Shape& x = g.at(n.inputs[0]).shape;
  if (x.size() != n.shape.size() || x.back() != n.shape.back()) return atom;
  return n.inputs[0];
}

/// The parts of x = reshape(concat(parts, axis a)) when the reshape only merges axes a.. into the
/// last one (flatten(stack(fields))): x = concat(parts reshaped alike, last axis). Empty otherwise.
std::vector<ValueId> flattenedConcatParts(GraphBuilder& b, ValueId x) {
  Graph& g = b.graph();
  const Node& r = g.at(x);
  if (r.op != OpKind::Reshape || g.at(r.inputs[0]).op != OpKind::Concat) return {};
  const Node& cat = g.at(r.inputs[0]);
  const auto axis = static_cast<size_t>(cat.attrs.i("axis"));
  if (r.shape.size() != axis + 1) return {};
  for (size_t d = 0; d < axis; ++d)
    if (r.shape[d] != cat.shape[d]) return {};
  std::vector<ValueId> parts;
  for (ValueId p : std::vector<ValueId>(cat.inputs)) {  // a copy: b.add may move the nodes
    Shape flat(g.at(p).shape.begin(), g.at(p).shape.begin() + static_cast<std::ptrdiff_t>(axis));
    int64_t width = 1;
    for (size_t d = axis; d < g.at(p).shape.size(); ++d) {
      if (!g.at(p).shape[d].isStatic()) return {};
      width *= g.at(p).shape[d].n;
    }
    flat.push_back(Dim(width));
    // reshape(reshape(y)) is y when the shapes agree (stack's [B,D] -> [B,1,D] undone).
    ValueId y = g.at(p).op == OpKind::Reshape ? g.at(p).inputs[0] : p;
    parts.push_back(g.at(y).shape == flat ? y
                                          : b.add(OpKind::Reshape, {p}, Attrs().set("shape", flat), g.at(x).loc));
  }
  return parts;
}

/// x as a concatenation along its last axis, flattened: nested concats on the last axis and
/// flatten(stack(...)) parts are expanded; anything else is one part.
void lastAxisParts(GraphBuilder& b, ValueId x, std::vector<ValueId>& out) {
  const Graph& g = b.graph();
  const Node& n = g.at(x);
  std::vector<ValueId> inner;
  if (n.op == OpKind::Concat && n.shape.size() >= 2 && n.attrs.i("axis") == static_cast<int64_t>(n.shape.size()) - 1)
    inner = n.inputs;
  else
    inner = flattenedConcatParts(b, x);
  if (inner.empty()) {
    out.push_back(x);
    return;
  }
  for (ValueId p : inner) lastAxisParts(b, p, out);
}

}  // namespace

int factorConcatMatmuls(Graph& forward, int64_t batch, double reuse) {
  return rebuildNodes(forward, [batch, reuse](GraphBuilder& b, const Node& n) -> ValueId {
    Graph& g = b.graph();
    if (n.op != OpKind::MatMul || n.attrs.i("ta") != 0 || n.attrs.i("tb") != 0) return -1;
    std::vector<ValueId> parts;
    if (g.at(n.inputs[1]).shape.size() == 2) lastAxisParts(b, n.inputs[0], parts);
    if (parts.size() < 2) return -1;
    // Row blocks of W per part, and the signed atoms of each part.
    std::vector<std::pair<int64_t, int64_t>> rows;
    std::map<ValueId, std::vector<std::pair<size_t, int>>> uses;  // atom -> (part, sign)
    std::vector<ValueId> order;                                   // atoms in first-use order
    int64_t begin = 0;
    for (size_t k = 0; k < parts.size(); ++k) {
      const int64_t width = g.at(parts[k]).shape.back().n;
      rows.push_back({begin, begin + width});
      begin += width;
      std::vector<Term> terms;
      decompose(g, parts[k], 1, 0, terms);
      for (const Term& t : terms) {
        if (!uses.count(t.atom)) order.push_back(t.atom);
        uses[t.atom].push_back({k, t.sign});
      }
    }
    // Multiplications before and after: a product costs its left operand's elements times N,
    // or less for a lookup that sinkGathers will multiply per table row. Several products
    // instead of one also cost their partial sums and run smaller, less efficient GEMMs: a
    // quarter fewer multiplications at least (FNN's first layer at batch 1024, 18% fewer, was
    // 10% slower split; DeepFM's at batch 4096, a third fewer, 15% faster).
    int64_t before = numElements(g.at(n.inputs[0]).shape, batch), after = 0;
    for (ValueId a : order) {
      const ValueId x = unbroadcast(g, a);
      const int64_t plain = numElements(g.at(x).shape, batch), cost = lookupCost(g, x, batch, reuse);
      after += cost;
      // A one-column part over the batch (PNN's inner products) becomes an outer product: it
      // runs at memory speed, writing a [B, N] partial result that the sum reads back, far
      // more than its multiplications (PNN's inference at batch 4096: 40% faster unsplit).
      const Shape& s = g.at(x).shape;
      if (cost == plain && (s.empty() || s.back().n == 1)) after += kPartialSumCost * plain;
    }
    if (after * 4 > before * 3) return -1;
    const Loc loc = n.loc;
    const ValueId weight = n.inputs[1];
    auto slice = [&](size_t k) {
      return b.add(OpKind::Slice, {weight},
                   Attrs().set("axis", int64_t{0}).set("begin", rows[k].first).set("end", rows[k].second), loc);
    };
    // Full-shape products first, so that every partial sum has the result's shape.
    std::vector<ValueId> full, narrow;
    for (ValueId a : order) {
      ValueId wa = -1;
      for (auto [k, sign] : uses[a]) {
        ValueId s = slice(k);
        if (wa < 0) wa = sign > 0 ? s : b.add(OpKind::Neg, {s}, {}, loc);
        else wa = b.add(sign > 0 ? OpKind::Add : OpKind::Sub, {wa, s}, {}, loc);
      }
      ValueId x = unbroadcast(g, a);
      ValueId y = b.add(OpKind::MatMul, {x, wa}, Attrs().set("ta", int64_t{0}).set("tb", int64_t{0}), loc);
      (x == a ? full : narrow).push_back(y);
    }
    full.insert(full.end(), narrow.begin(), narrow.end());
    ValueId sum = full[0];
    for (size_t k = 1; k < full.size(); ++k) sum = b.add(OpKind::Add, {sum, full[k]}, {}, loc);
    if (g.at(sum).shape != n.shape)  // every part was a broadcast: restore the full shape
      sum = b.add(OpKind::BroadcastTo, {sum}, Attrs().set("shape", n.shape), loc);
    g.at(sum).name = n.name;
    return sum;
  });
}

int lowerThinProducts(Graph& g) {
  return rebuildNodes(g, [](GraphBuilder& b, const Node& n) -> ValueId {
    if (n.op != OpKind::MatMul) return -1;
    const ValueId a = n.inputs[0], w = n.inputs[1];
    const Shape as = b.graph().at(a).shape, ws = b.graph().at(w).shape;  // copies: b.add may move nodes
    const bool ta = n.attrs.i("ta") != 0, tb = n.attrs.i("tb") != 0;
    const Loc loc = n.loc;
    auto one = [](const Dim& d) { return d.isStatic() && d.n == 1; };
    auto reshape = [&](ValueId x, Shape s) { return b.add(OpKind::Reshape, {x}, Attrs().set("shape", std::move(s)), loc); };
    auto mul = [&](ValueId x, ValueId y) { return b.add(OpKind::Mul, {x, y}, {}, loc); };
    auto sumTo = [&](ValueId x, Dim d) { return b.add(OpKind::SumTo, {x}, Attrs().set("shape", Shape{d}), loc); };
    ValueId y = -1;
    if (!ta && ws.size() == 2) {  // a[L..., K] x op(w)[K, N] -> [L..., N]
      const Dim k = as.back(), cols = tb ? ws[0] : ws[1];
      if (one(k)) {
        y = mul(a, reshape(w, {cols}));  // [L..., 1] * [N]
      } else if (one(cols)) {
        const auto last = static_cast<int64_t>(as.size()) - 1;
        y = b.add(OpKind::Sum, {mul(a, reshape(w, {k}))}, Attrs().set("axis", last).set("keepdims", int64_t{1}), loc);
      }
    } else if (ta && !tb) {  // a[L..., M], w[L..., N] -> [M, N], summed over L
      const Dim m = as.back(), cols = ws.back();
      if (one(cols)) y = reshape(sumTo(mul(a, w), m), {m, Dim(1)});
      else if (one(m)) y = reshape(sumTo(mul(a, w), cols), {Dim(1), cols});
    }
    if (y >= 0) b.graph().at(y).name = n.name;
    return y;
  });
}

}  // namespace recc
