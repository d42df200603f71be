// Allocation of the large, long-lived buffers: parameters, optimizer moments, compiled arenas.
#pragma once
#include <cstddef>
#include <vector>

namespace recc {

/// n zeros. A buffer of 32 MiB or more is advised onto transparent huge pages before it is
/// first touched: an embedding table of millions of rows is then reached through a few
/// thousand TLB entries instead of hundreds of thousands of 4 KiB pages (the gathers and sparse
/// updates of its rows stop paying a page walk each), and it faults in 512 times fewer pages.
template <class T>
std::vector<T> zeroed(size_t n);

/// Advises the 2 MiB-aligned part of [p, p + bytes) onto transparent huge pages if the block
/// is 32 MiB or more; call it before the block is first touched. Advice only: without
/// transparent huge pages the block keeps ordinary pages.
void adviseHugePages(void* p, size_t bytes);

/// The alignment that lets adviseHugePages cover a whole block of `bytes` (2 MiB for blocks it
/// advises, else `minimum`).
size_t hugePageAlignment(size_t bytes, size_t minimum);

template <class T>
std::vector<T> zeroed(size_t n) {
  std::vector<T> v;
  // Blocks this large come straight from mmap (Kernels.cpp sets the threshold to 32 MiB), so
  // the reserved pages are untouched and the advice decides how they fault in.
  v.reserve(n);
  adviseHugePages(v.data(), n * sizeof(T));
  v.resize(n, T{});
  return v;
}

}  // namespace recc
