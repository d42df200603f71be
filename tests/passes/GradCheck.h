// Test helper: builds small graphs with random parameters and inputs, and compares the
// gradients autodiff derives (run on the reference evaluator) with central differences.
#pragma once
#include <gtest/gtest.h>

#include <cmath>
#include <random>
#include <string>

#include "compiler/passes/Autodiff.h"
#include "runtime/reference/Evaluator.h"

namespace recc::testing {

class GradCheck {
 public:
  Graph g;
  GraphBuilder b{g};
  int64_t batch = 3;

  explicit GradCheck(uint32_t seed = 7) : rng_(seed) {}

  /// A parameter whose values are drawn uniformly from [lo, hi]; with awayFromZero the sign
  /// is random and |x| in [lo, hi] (keeps relu/step away from their kink).
  ValueId param(Shape s, float lo = -1, float hi = 1, bool awayFromZero = false) {
    g.params.push_back({"p" + std::to_string(g.params.size()), s, "zeros", 0, false, {}});
    ranges_.push_back({lo, hi, awayFromZero});
    return b.add(OpKind::Param, {}, Attrs().set("index", int64_t(g.params.size() - 1)));
  }

  /// A dense f32 input [B] (len 0) or [B, len] with values in [lo, hi].
  ValueId dense(int64_t len, float lo = 0.5f, float hi = 1.5f) {
    InputDecl d;
    d.name = "in" + std::to_string(g.inputs.size());
    d.kind = InputKind::Dense;
    d.length = len;
    g.inputs.push_back(d);
    Tensor t = Tensor::zerosF32(len ? std::vector<int64_t>{batch, len} : std::vector<int64_t>{batch});
    std::uniform_real_distribution<float> u(lo, hi);
    for (float& x : t.f) x = u(rng_);
    inputs_.push_back(t);
    return b.add(OpKind::Input, {}, Attrs().set("index", int64_t(g.inputs.size() - 1)));
  }

  /// An id input [B] (len 0) or [B, len] with ids in [0, rows), or the given values.
  ValueId ids(int64_t len, int64_t rows, std::vector<int32_t> values = {}) {
    InputDecl d;
    d.name = "ids" + std::to_string(g.inputs.size());
    d.kind = len ? InputKind::Ids : InputKind::Id;
    d.length = len;
    d.vocab = "v";
    g.inputs.push_back(d);
    std::vector<int64_t> shape = len ? std::vector<int64_t>{batch, len} : std::vector<int64_t>{batch};
    if (values.empty()) {
      std::uniform_int_distribution<int32_t> u(0, static_cast<int32_t>(rows - 1));
      for (int64_t k = 0; k < batch * (len ? len : 1); ++k) values.push_back(u(rng_));
    }
    inputs_.push_back(Tensor::ids(shape, values));
    return b.add(OpKind::Input, {}, Attrs().set("index", int64_t(g.inputs.size() - 1)));
  }

  /// A differentiable value of shape [B, rest...]: dense input times a parameter (so that
  /// gradients flow through the symbolic batch dim back to the parameter).
  ValueId batched(Shape rest, float lo = -1, float hi = 1, bool awayFromZero = false) {
    int64_t n = numElements(rest, 0);
    ValueId x = b.add(OpKind::Mul, {dense(rest.empty() ? 0 : n), param(rest.empty() ? Shape{} : Shape{n}, lo, hi, awayFromZero)});
    Shape full = {kB};
    full.insert(full.end(), rest.begin(), rest.end());
    if (rest.size() > 1) x = b.add(OpKind::Reshape, {x}, Attrs().set("shape", full));
    return x;
  }

  /// loss = 0.7 * sum(y * W) with W a random parameter (B-leading dims broadcast).
  void setLoss(ValueId y) {
    Shape ws = g.at(y).shape;
    if (!ws.empty() && ws[0].isBatch()) ws.erase(ws.begin());
    ValueId l = b.add(OpKind::Mul, {y, param(ws)});
    while (!g.at(l).shape.empty()) l = b.add(OpKind::Sum, {l}, Attrs().set("axis", int64_t(0)));
    g.losses.push_back({l, 0.7, {}});
  }

  const std::vector<Tensor>& inputs() const { return inputs_; }

  ParamState randomState() {
    ParamState s;
    for (size_t p = 0; p < g.params.size(); ++p) {
      std::vector<float> v(static_cast<size_t>(numElements(g.params[p].shape, 0)));
      std::uniform_real_distribution<float> u(ranges_[p].lo, ranges_[p].hi);
      for (float& x : v) {
        x = u(rng_);
        if (ranges_[p].away && rng_() % 2) x = -x;
      }
      s.values.push_back(v);
    }
    return s;
  }

  /// Differentiates the graph and checks every parameter's gradient element-wise.
  /// eps = 1e-2 on float32: central-difference truncation error is ~eps^2/6 * f''' (~1e-4
  /// for these O(1) inputs) and the loss rounding error (~1e-6, reductions in double) becomes
  /// ~1e-4 after division by 2*eps, so atol 2e-3 + rtol 1e-2 has a 10x margin while a wrong
  /// sign, factor or missing broadcast term (errors of O(0.1) and more) still fails.
  void check(ValueId y) {
    setLoss(y);
    Graph d = g;
    differentiate(d);
    ParamState s = randomState();
    ParamState s0 = s;
    std::vector<Tensor> r = evaluate(d, batch, inputs_, s);
    auto lossAt = [&](const ParamState& st) {
      ParamState copy = st;
      return static_cast<double>(evaluate(d, batch, inputs_, copy)[static_cast<size_t>(d.loss)].f[0]);
    };
    for (size_t p = 0; p < g.params.size(); ++p) {
      for (size_t j = 0; j < s0.values[p].size(); ++j) {
        double analytic = d.grads[p] < 0 ? 0.0 : r[static_cast<size_t>(d.grads[p])].f[j];
        ParamState plus = s0, minus = s0;
        plus.values[p][j] += 1e-2f;
        minus.values[p][j] -= 1e-2f;
        double h = static_cast<double>(plus.values[p][j]) - minus.values[p][j];  // the float step taken
        double numeric = (lossAt(plus) - lossAt(minus)) / h;
        EXPECT_NEAR(analytic, numeric, 2e-3 + 1e-2 * std::abs(numeric))
            << "param " << g.params[p].name << shapeStr(g.params[p].shape) << " element " << j;
      }
    }
  }

 private:
  struct Range { float lo, hi; bool away; };
  std::mt19937 rng_;
  std::vector<Range> ranges_;
  std::vector<Tensor> inputs_;
};

}  // namespace recc::testing
