// recc_rt_update_f32: one SGD / Adam / AdamW step on a parameter buffer (PyTorch semantics),
// elementwise, split over the threads in disjoint ranges; recc_rt_sparse_update_f32: the same
// step on the rows of an embedding table that a batch touched.
#include <algorithm>
#include <cmath>
#include <cstring>
#include <vector>

#include "runtime/kernels/Kernels.h"
#include "runtime/kernels/Parallel.h"

#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"  // see Kernels.cpp
#pragma GCC diagnostic ignored "-Wuninitialized"
#include <Eigen/Core>

namespace {

using Packet = Eigen::internal::packet_traits<float>::type;
constexpr int kLanes = Eigen::internal::packet_traits<float>::size;

/// The step's constants (bias corrections from the 1-based step, in double so that late steps
/// stay exact) and the update of n consecutive elements.
struct Step {
  explicit Step(const ReccOptimizer& o) : sgd(o.kind == 0), lr(o.lr), wd(o.weight_decay), b1(o.beta1), b2(o.beta2),
                                          eps(o.eps) {
    const auto t = static_cast<double>(o.step < 1 ? 1 : o.step);
    bc1 = static_cast<float>(1.0 - std::pow(static_cast<double>(b1), t));
    bc2 = static_cast<float>(1.0 - std::pow(static_cast<double>(b2), t));
    // AdamW decays the weights directly; Adam adds the decay to the gradient (L2).
    decay = o.kind == 2 ? 1.0f - lr * wd : 1.0f;
    l2 = o.kind == 2 ? 0.0f : wd;
  }
  void apply(float* param, const float* grad, float* m, float* v, int64_t n) const {
    if (sgd) {  // SGD with L2 weight decay folded into the gradient
      for (int64_t i = 0; i < n; ++i) param[i] -= lr * (grad[i] + wd * param[i]);
      return;
    }
    // Adam in whole packets, the tail in one zero-padded packet: every element goes through the
    // same instructions, so the bits do not depend on alignment or on chunk boundaries.
    const int64_t whole = n / kLanes;
    adamPackets(param, grad, m, v, whole);
    if (const int64_t i = whole * kLanes; i < n) {
      alignas(64) float tp[kLanes] = {}, tg[kLanes] = {}, tm[kLanes] = {}, tv[kLanes] = {};
      const auto rest = static_cast<size_t>(n - i) * sizeof(float);
      std::memcpy(tp, param + i, rest);
      std::memcpy(tg, grad + i, rest);
      std::memcpy(tm, m + i, rest);
      std::memcpy(tv, v + i, rest);
      adamPackets(tp, tg, tm, tv, 1);
      std::memcpy(param + i, tp, rest);
      std::memcpy(m + i, tm, rest);
      std::memcpy(v + i, tv, rest);
    }
  }
  // g = grad + l2 p; m = b1 m + (1-b1) g; v = b2 v + (1-b2) g^2;
  // p = p decay - lr (m / bc1) / (sqrt(v / bc2) + eps), for `count` consecutive packets. Not
  // inlined: the body's packets and the padded tail's run the same instructions. One call per
  // range, not per packet, so the constants are set up once: on one Zen 3 core, 0.7-0.8 ns per
  // element instead of 1.0-1.3 (8k to 300k elements, AdamW).
  [[gnu::noinline]] void adamPackets(float* param, const float* grad, float* m, float* v, int64_t count) const {
    namespace ei = Eigen::internal;
    auto c = [](float x) { return ei::pset1<Packet>(x); };
    const Packet cl2 = c(l2), cb1 = c(b1), cb1c = c(1 - b1), cb2 = c(b2), cb2c = c(1 - b2), cbc1 = c(bc1),
                 cbc2 = c(bc2), ceps = c(eps), clr = c(lr), cdecay = c(decay);
    for (int64_t q = 0; q < count; ++q) {
      const int64_t i = q * kLanes;
      Packet p = ei::ploadu<Packet>(param + i), mm = ei::ploadu<Packet>(m + i), vv = ei::ploadu<Packet>(v + i);
      Packet g = ei::padd(ei::ploadu<Packet>(grad + i), ei::pmul(cl2, p));
      mm = ei::padd(ei::pmul(cb1, mm), ei::pmul(cb1c, g));
      vv = ei::padd(ei::pmul(cb2, vv), ei::pmul(ei::pmul(cb2c, g), g));
      Packet denom = ei::padd(ei::psqrt(ei::pdiv(vv, cbc2)), ceps);
      p = ei::psub(ei::pmul(p, cdecay), ei::pdiv(ei::pmul(clr, ei::pdiv(mm, cbc1)), denom));
      ei::pstoreu(param + i, p);
      ei::pstoreu(m + i, mm);
      ei::pstoreu(v + i, vv);
    }
  }
  bool sgd;
  float lr, wd, b1, b2, eps, bc1 = 1, bc2 = 1, decay = 1, l2 = 0;
};

/// Stable LSD radix sort of (row << 32 | position) keys by row, 11 bits per pass (as many passes
/// as `rows` needs): the same order as sorting the keys, in linear time.
void sortByRow(std::vector<uint64_t>& keys, int64_t rows) {
  thread_local std::vector<uint64_t> tmp;
  tmp.resize(keys.size());
  int bits = 0;
  while (bits < 32 && (int64_t{1} << bits) < rows) ++bits;
  for (int shift = 0; shift < bits; shift += 11) {
    size_t count[2049] = {};
    for (uint64_t k : keys) ++count[((k >> 32 >> shift) & 2047) + 1];
    for (int b = 0; b < 2048; ++b) count[b + 1] += count[b];
    for (uint64_t k : keys) tmp[count[(k >> 32 >> shift) & 2047]++] = k;
    keys.swap(tmp);
  }
}

}  // namespace

extern "C" void recc_rt_update_f32(const ReccOptimizer* opt, float* param, const float* grad, float* m,
                                   float* v, int64_t n) {
  const Step step(*opt);
  recc::parallelFor(n, (step.sgd ? 3.0 : 12.0) * static_cast<double>(n), [&](int, int64_t lo, int64_t hi) {
    step.apply(param + lo, grad + lo, step.sgd ? nullptr : m + lo, step.sgd ? nullptr : v + lo, hi - lo);
  });
}

extern "C" void recc_rt_sparse_update_f32(const ReccOptimizer* opt, float* param, float* m, float* v, int64_t rows,
                                          int64_t dim, int64_t stride, int32_t parts, const int32_t* const* ids,
                                          const float* const* grads, const int64_t* counts) {
  // Every (row, position) pair in order, sorted by row: equal rows become runs whose gradients
  // are summed in order of appearance, and the rows are then visited in address order. Keys
  // are unique (the position breaks ties), so the order is fixed. The sort is linear in the
  // batch's ids and needs no state the size of the table.
  // Scratch of the calling thread, reused across calls; the chunks below run on other threads
  // too, so they reach it through these references (a thread_local named in a lambda would be
  // the running thread's own, empty, instance).
  thread_local std::vector<uint64_t> keysTl;
  thread_local std::vector<const float*> sourceTl;
  thread_local std::vector<int64_t> runsTl;
  thread_local std::vector<float> sumTl;
  std::vector<uint64_t>& keys = keysTl;
  std::vector<const float*>& source = sourceTl;
  std::vector<int64_t>& runs = runsTl;  // start of each distinct row's run in keys
  std::vector<float>& sum = sumTl;
  keys.clear();
  source.clear();
  for (int32_t k = 0; k < parts; ++k)
    for (int64_t i = 0; i < counts[k]; ++i) {
      keys.push_back(static_cast<uint64_t>(static_cast<uint32_t>(ids[k][i])) << 32 | source.size());
      source.push_back(grads[k] + i * dim);
    }
  sortByRow(keys, rows);
  runs.clear();
  for (size_t i = 0; i < keys.size(); ++i)
    if (i == 0 || keys[i] >> 32 != keys[i - 1] >> 32) runs.push_back(static_cast<int64_t>(i));
  const auto n = static_cast<int64_t>(runs.size());
  runs.push_back(static_cast<int64_t>(keys.size()));
  sum.resize(static_cast<size_t>(n * dim));
  auto rowOf = [&](int64_t u) { return static_cast<int64_t>(keys[static_cast<size_t>(runs[static_cast<size_t>(u)])] >> 32); };
  const Step step(*opt);
  // Prefetch the rows a few distinct ids ahead: on a large table each row is a cache (and TLB)
  // miss, and the misses of different rows overlap only when requested early.
  constexpr int64_t kAhead = 6;
  auto prefetchRow = [&](int64_t u) {
    const int64_t at = rowOf(u) * stride;
    for (int64_t off = 0; off < dim; off += 16) {
      __builtin_prefetch(param + at + off, 1);
      if (!step.sgd) {
        __builtin_prefetch(m + at + off, 1);
        __builtin_prefetch(v + at + off, 1);
      }
    }
  };
  auto updateRows = [&](int64_t lo, int64_t hi) {
    for (int64_t u = lo; u < std::min(lo + kAhead, hi); ++u) prefetchRow(u);
    for (int64_t u = lo; u < hi; ++u) {
      if (u + kAhead < hi) prefetchRow(u + kAhead);
      float* s = sum.data() + u * dim;
      const int64_t first = runs[static_cast<size_t>(u)], last = runs[static_cast<size_t>(u + 1)];
      const float* g0 = source[keys[static_cast<size_t>(first)] & 0xffffffffu];
      std::copy(g0, g0 + dim, s);
      for (int64_t j = first + 1; j < last; ++j) {
        const float* g = source[keys[static_cast<size_t>(j)] & 0xffffffffu];
        for (int64_t d = 0; d < dim; ++d) s[d] += g[d];
      }
      const int64_t at = rowOf(u) * stride;
      step.apply(param + at, s, step.sgd ? nullptr : m + at, step.sgd ? nullptr : v + at, dim);
    }
  };
  if (step.sgd && step.wd != 0) {
    // Dense SGD shrinks every row by its weight decay, gradient or not: rows without ids get
    // the same formula with a zero gradient (the touched ones, theirs).
    recc::parallelFor(rows, 3.0 * static_cast<double>(rows * dim), [&](int, int64_t lo, int64_t hi) {
      // The distinct rows within [lo, hi): a binary search over the sorted runs.
      int64_t u = std::lower_bound(runs.begin(), runs.begin() + n, lo,
                                   [&](int64_t start, int64_t row) {
                                     return static_cast<int64_t>(keys[static_cast<size_t>(start)] >> 32) < row;
                                   }) - runs.begin();
      for (int64_t r = lo; r < hi; ++r) {
        if (u < n && rowOf(u) == r) {
          updateRows(u, u + 1);
          ++u;
          continue;
        }
        float* p = param + r * stride;
        for (int64_t d = 0; d < dim; ++d) p[d] -= step.lr * (0.0f + step.wd * p[d]);
      }
    });
    return;
  }
  // Distinct rows never share memory: split them over the threads.
  recc::parallelFor(n, 12.0 * static_cast<double>(n * dim), [&](int, int64_t lo, int64_t hi) { updateRows(lo, hi); });
}
