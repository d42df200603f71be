// The counter-based hash behind Dropout's mask. The reference evaluator calls these functions;
// the code generator emits the same integer operations in LLVM IR (compiler/codegen/Emitter.cpp),
// so the JIT and the oracle drop exactly the same elements. Counter-based: the mask element of
// (node seed, run seed, step, i) needs no generator state, so it is the same in the forward and
// the gradient and does not depend on the order in which elements are computed.
#pragma once
#include <cmath>
#include <cstdint>

namespace recc {

inline constexpr uint64_t kDropoutStepMul = 0x9E3779B97F4A7C15ull;   // 2^64 / golden ratio
inline constexpr uint64_t kDropoutIndexMul = 0xD1B54A32D192ED03ull;
inline constexpr uint64_t kMix1 = 0xBF58476D1CE4E5B9ull;  // splitmix64's finaliser constants
inline constexpr uint64_t kMix2 = 0x94D049BB133111EBull;
inline constexpr int kDropoutBits = 24;  // uniform bits compared with p

/// splitmix64's finaliser: a bijective avalanche mix of 64 bits.
inline constexpr uint64_t mix64(uint64_t z) {
  z = (z ^ (z >> 30)) * kMix1;
  z = (z ^ (z >> 27)) * kMix2;
  return z ^ (z >> 31);
}

/// Per (node seed, the run's seed, optimizer step): computed once per run. Run seed 0 gives
/// the node's masks of before run seeds took part (mix64(0) = 0).
inline constexpr uint64_t dropoutKey(int64_t seed, int64_t runSeed, int64_t step) {
  return mix64(static_cast<uint64_t>(seed) ^ mix64(static_cast<uint64_t>(runSeed)) ^
               (static_cast<uint64_t>(step) * kDropoutStepMul));
}

/// 24 uniform bits for element i: u = bits / 2^24 in [0, 1).
inline constexpr uint64_t dropoutBits(uint64_t key, int64_t i) {
  return mix64(key ^ (static_cast<uint64_t>(i) * kDropoutIndexMul)) >> (64 - kDropoutBits);
}

/// Element i is kept iff bits >= threshold, i.e. u >= p exactly (integer compare, no rounding).
inline uint64_t dropoutThreshold(double p) {
  return static_cast<uint64_t>(std::ceil(p * static_cast<double>(uint64_t{1} << kDropoutBits)));
}

/// The scale of kept elements, 1 / (1 - p), as the f32 constant both sides multiply by.
inline float dropoutScale(double p) { return static_cast<float>(1.0 / (1.0 - p)); }

}  // namespace recc
