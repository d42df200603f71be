// recc_rt_update_f32: one SGD / Adam / AdamW step on a parameter buffer (PyTorch semantics).
#include <cmath>

#include "runtime/kernels/Kernels.h"

extern "C" void recc_rt_update_f32(const ReccOptimizer* opt, float* param, const float* grad, float* m,
                                   float* v, int64_t n) {
  const float lr = opt->lr, wd = opt->weight_decay;
  if (opt->kind == 0) {  // SGD with L2 weight decay folded into the gradient
    for (int64_t i = 0; i < n; ++i) param[i] -= lr * (grad[i] + wd * param[i]);
    return;
  }
  const float b1 = opt->beta1, b2 = opt->beta2, eps = opt->eps;
  // Bias corrections from the 1-based step; powers in double so that late steps stay exact.
  const auto t = static_cast<double>(opt->step < 1 ? 1 : opt->step);
  const auto bc1 = static_cast<float>(1.0 - std::pow(static_cast<double>(b1), t));
  const auto bc2 = static_cast<float>(1.0 - std::pow(static_cast<double>(b2), t));
  const bool adamw = opt->kind == 2;
  // AdamW decays the weights directly; Adam adds the decay to the gradient (L2).
  const float decay = adamw ? 1.0f - lr * wd : 1.0f;
  const float l2 = adamw ? 0.0f : wd;
  for (int64_t i = 0; i < n; ++i) {
    float p = param[i] * decay;
    float g = grad[i] + l2 * param[i];
    m[i] = b1 * m[i] + (1 - b1) * g;
    v[i] = b2 * v[i] + (1 - b2) * g * g;
    param[i] = p - lr * (m[i] / bc1) / (std::sqrt(v[i] / bc2) + eps);
  }
}
