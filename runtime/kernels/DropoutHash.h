// The counter-based hash behind Dropout's mask. The reference evaluator calls these functions;
// the code generator emits the same integer operations in LLVM IR (compiler/codegen/Emitter.cpp),
// so the JIT and the oracle drop exactly the same elements. Counter-based: the mask element of
// (node seed, run seed, step, i) needs no generator state, so it is the same in the forward and
// the gradient and does not depend on the order in which elements are computed.
// The key is mixed in 64 bits once per run; each element is mixed in 32 bits: AVX2 has no 64-bit
// vector multiply: with splitmix64 per element, BST's dropout loops took 5.2% of its training
// run's profile (2.9% with this hash).
#pragma once
#include <cmath>
#include <cstdint>

namespace recc {

inline constexpr uint64_t kDropoutStepMul = 0x9E3779B97F4A7C15ull;   // 2^64 / golden ratio
inline constexpr uint32_t kDropoutLowMul = 0x9E3779B1u;    // odd: i's low half spread bijectively
inline constexpr uint32_t kDropoutHighMul = 0x7FEB352Du;   // i's high half (0 below 2^32 elements)
inline constexpr uint64_t kMix1 = 0xBF58476D1CE4E5B9ull;  // splitmix64's finaliser constants
inline constexpr uint64_t kMix2 = 0x94D049BB133111EBull;
inline constexpr uint32_t kMix32a = 0x85EBCA6Bu;          // MurmurHash3's fmix32 constants
inline constexpr uint32_t kMix32b = 0xC2B2AE35u;
inline constexpr int kDropoutBits = 24;  // uniform bits compared with p

/// splitmix64's finaliser: a bijective avalanche mix of 64 bits.
inline constexpr uint64_t mix64(uint64_t z) {
  z = (z ^ (z >> 30)) * kMix1;
  z = (z ^ (z >> 27)) * kMix2;
  return z ^ (z >> 31);
}

/// MurmurHash3's finaliser: a bijective avalanche mix of 32 bits.
inline constexpr uint32_t mix32(uint32_t z) {
  z = (z ^ (z >> 16)) * kMix32a;
  z = (z ^ (z >> 13)) * kMix32b;
  return z ^ (z >> 16);
}

/// A run's 64-bit key folded to the 32 bits the element hash takes.
inline constexpr uint32_t foldKey(uint64_t key) { return static_cast<uint32_t>(key ^ (key >> 32)); }

/// Per (node seed, the run's seed, optimizer step): computed once per run. Run seed 0 gives
/// the node's masks of before run seeds took part (mix64(0) = 0).
inline constexpr uint64_t dropoutKey(int64_t seed, int64_t runSeed, int64_t step) {
  return mix64(static_cast<uint64_t>(seed) ^ mix64(static_cast<uint64_t>(runSeed)) ^
               (static_cast<uint64_t>(step) * kDropoutStepMul));
}

/// 24 uniform bits for element i: u = bits / 2^24 in [0, 1).
inline constexpr uint64_t dropoutBits(uint64_t key, int64_t i) {
  const auto u = static_cast<uint64_t>(i);
  const uint32_t x = (static_cast<uint32_t>(u) * kDropoutLowMul) ^ (static_cast<uint32_t>(u >> 32) * kDropoutHighMul) ^
                     foldKey(key);
  return mix32(x) >> (32 - kDropoutBits);
}

/// Element i is kept iff bits >= threshold, i.e. u >= p exactly (integer compare, no rounding).
inline uint64_t dropoutThreshold(double p) {
  return static_cast<uint64_t>(std::ceil(p * static_cast<double>(uint64_t{1} << kDropoutBits)));
}

/// The scale of kept elements, 1 / (1 - p), as the f32 constant both sides multiply by.
inline float dropoutScale(double p) { return static_cast<float>(1.0 / (1.0 - p)); }

}  // namespace recc
