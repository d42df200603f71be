// The name -> address table of every recc_rt_ kernel, registered explicitly into the JIT.
#include "runtime/kernels/Kernels.h"

namespace recc {

std::vector<std::pair<std::string, void*>> kernelSymbols() {
  // Taking each address here also keeps the kernels linked into any binary that JITs.
#define RECC_KERNEL(fn) {#fn, reinterpret_cast<void*>(&fn)}
  return {
      RECC_KERNEL(recc_rt_matmul_f32),
      RECC_KERNEL(recc_rt_gather_f32),
      RECC_KERNEL(recc_rt_scatter_add_f32),
      RECC_KERNEL(recc_rt_update_f32),
  };
#undef RECC_KERNEL
}

}  // namespace recc
