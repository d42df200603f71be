// exp in straight-line f32 arithmetic for the kernels: loops calling it vectorise (a libm call
// per element does not; GCC if-converts the clamps only under -fno-trapping-math, set in
// CMakeLists.txt), and every element gets the same operations whether the compiler puts
// it in a vector lane or a scalar remainder, so results do not depend on where a buffer or a
// thread's chunk starts. The same algorithm as the JIT's (compiler/codegen/ScalarOps.cpp).
#pragma once
#include <cstdint>
#include <cstring>

namespace recc {

/// e^x to about 1 ulp: x = n ln2 + r (Cody-Waite), e^r by its degree-7 Taylor polynomial,
/// 2^n applied as two exact power-of-two factors (overflow to inf, subnormals rounded once).
/// Inputs are clamped to [-104, 89]; NaN is not handled (callers pass finite values).
inline float fastExp(float x) {
  x = x < -104.0f ? -104.0f : x;
  x = x > 89.0f ? 89.0f : x;
  // Round to nearest even by the 1.5 * 2^23 trick (exact for |x log2 e| < 2^22).
  const float shifter = 12582912.0f;
  const float n = (x * 1.44269504088896341f + shifter) - shifter;
  float r = x - n * 0.693359375f;
  r = r + n * 2.12194440e-4f;
  float p = 1.0f / 5040;
  p = p * r + 1.0f / 720;
  p = p * r + 1.0f / 120;
  p = p * r + 1.0f / 24;
  p = p * r + 1.0f / 6;
  p = p * r + 0.5f;
  p = p * r + 1.0f;
  p = p * r + 1.0f;
  const auto ni = static_cast<int32_t>(n);
  const bool pos = ni > 0;
  const int32_t m = pos ? 1 : -64;
  const int32_t bits = (ni - m + 127) << 23;
  float scale;
  std::memcpy(&scale, &bits, sizeof scale);
  return p * scale * (pos ? 2.0f : 0x1p-64f);
}

}  // namespace recc
