// Huge-page advice for large buffers (see Memory.h).
#include "runtime/kernels/Memory.h"

#include <sys/mman.h>

#include <cstdint>

namespace recc {

namespace {
constexpr uintptr_t kHuge = uintptr_t{2} << 20;
constexpr size_t kAdvised = size_t{32} << 20;
}  // namespace

void adviseHugePages(void* p, size_t bytes) {
  if (bytes < kAdvised) return;
  const auto begin = reinterpret_cast<uintptr_t>(p);
  const uintptr_t lo = (begin + kHuge - 1) & ~(kHuge - 1);
  const uintptr_t hi = (begin + bytes) & ~(kHuge - 1);
  if (hi > lo) (void)madvise(reinterpret_cast<void*>(lo), hi - lo, MADV_HUGEPAGE);
}

size_t hugePageAlignment(size_t bytes, size_t minimum) {
  return bytes >= kAdvised && minimum < kHuge ? kHuge : minimum;
}

}  // namespace recc
