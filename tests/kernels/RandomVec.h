// Shared by the kernel tests: reproducible N(0, 1) operands.
#pragma once
#include <cstdint>
#include <random>
#include <vector>

inline std::vector<float> randomVec(size_t n, uint32_t seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> d(0.f, 1.f);
  std::vector<float> v(n);
  for (float& x : v) x = d(rng);
  return v;
}
