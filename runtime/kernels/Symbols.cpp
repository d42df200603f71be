// The name -> address table of every recc_rt_ kernel, registered explicitly into the JIT.
#include "runtime/kernels/Kernels.h"

namespace recc {

std::vector<std::pair<std::string, void*>> kernelSymbols() {
  // Taking each address here also keeps the kernels linked into any binary that JITs.
#define RECC_KERNEL(fn) {#fn, reinterpret_cast<void*>(&fn)}
  return {
      RECC_KERNEL(recc_rt_parallel_for),
      RECC_KERNEL(recc_rt_run_calls),
      RECC_KERNEL(recc_rt_matmul_f32),
      RECC_KERNEL(recc_rt_gather_f32),
      RECC_KERNEL(recc_rt_scatter_add_f32),
      RECC_KERNEL(recc_rt_update_f32),
      RECC_KERNEL(recc_rt_sparse_update_f32),
      RECC_KERNEL(recc_rt_batch_matmul_f32),
      RECC_KERNEL(recc_rt_softmax_f32),
      RECC_KERNEL(recc_rt_layer_norm_f32),
      RECC_KERNEL(recc_rt_batch_moments_f32),
      RECC_KERNEL(recc_rt_shard_sum_f32),
      RECC_KERNEL(recc_rt_cross_entropy_f32),
      RECC_KERNEL(recc_rt_positional_encoding_f32),
      RECC_KERNEL(recc_rt_conv1d_f32),
      RECC_KERNEL(recc_rt_unfold1d_f32),
      RECC_KERNEL(recc_rt_fold1d_f32),
  };
#undef RECC_KERNEL
}

}  // namespace recc
