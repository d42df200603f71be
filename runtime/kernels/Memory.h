// Allocation of the large, long-lived float buffers: parameters and optimizer moments.
#pragma once
#include <cstddef>
#include <vector>

namespace recc {

/// n zeros. A buffer of 32 MiB or more is advised onto transparent huge pages before it is
/// first touched: an embedding table of millions of rows is then reached through a few
/// thousand TLB entries instead of hundreds of thousands of 4 KiB pages (the gathers and sparse
/// updates of its rows stop paying a page walk each), and it faults in 512 times fewer pages.
std::vector<float> zeroedFloats(size_t n);

}  // namespace recc
