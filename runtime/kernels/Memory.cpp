// zeroedFloats: huge-page advice for large buffers (see Memory.h).
#include "runtime/kernels/Memory.h"

#include <sys/mman.h>

#include <cstdint>

namespace recc {

std::vector<float> zeroedFloats(size_t n) {
  constexpr uintptr_t kHuge = uintptr_t{2} << 20;
  std::vector<float> v;
  // Blocks this large come straight from mmap (Kernels.cpp sets the threshold to 32 MiB), so
  // the reserved pages are untouched and the advice decides how they fault in.
  v.reserve(n);
  if (n * sizeof(float) >= (size_t{32} << 20)) {
    const auto begin = reinterpret_cast<uintptr_t>(v.data());
    const uintptr_t lo = (begin + kHuge - 1) & ~(kHuge - 1);
    const uintptr_t hi = (begin + n * sizeof(float)) & ~(kHuge - 1);
    // Advice only: without transparent huge pages (or if it fails) the buffer just keeps
    // ordinary pages.
    if (hi > lo) (void)madvise(reinterpret_cast<void*>(lo), hi - lo, MADV_HUGEPAGE);
  }
  v.resize(n, 0.0f);
  return v;
}

}  // namespace recc
