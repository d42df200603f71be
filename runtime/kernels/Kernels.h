// The runtime's flat C ABI: library-grade kernels called by JIT-compiled code (one symbol per
// dtype, prefix recc_rt_). Implemented over Eigen maps and Gemm.h. Registered explicitly into
// the JIT by compiler/codegen (kernelSymbols() below), so a missing kernel fails at JIT start-up.
#pragma once
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

extern "C" {

// ---- threads (Parallel.cpp) ----

/// The number of threads the kernels and the compiled loops use from now on; n <= 0 restores
/// the default, the number of cores. Results are bitwise reproducible for a fixed count (static
/// partitions, partial results combined in a fixed order), and 1 thread runs everything on
/// the calling thread.
void recc_set_threads(int n);
int recc_get_threads(void);

/// A compiled loop nest: computes the part [lo, hi) of its outermost split dimension for the
/// run-time batch size `batch`; its buffers are found from the run's caller slots and arena by
/// the constant descriptor `desc` (compiler/codegen/Emitter.cpp).
typedef void (*ReccLoopFn)(int64_t batch, void** slots, uint8_t* arena, const int64_t* desc, int64_t lo,
                           int64_t hi);

/// Runs fn over [0, n) split into one chunk per thread, or in one call when `work` (about
/// one unit per flop) is too small to share or the pool is taken (inside a shard).
void recc_rt_parallel_for(ReccLoopFn fn, int64_t batch, void** slots, uint8_t* arena, const int64_t* desc,
                          int64_t n, int64_t work);

/// One call of a run list: a loop, recc_rt_parallel_for(fn, batch, slots, arena, desc, extent,
/// work), or with fn null a product, recc_rt_matmul_f32(out, a, b, m, n, k, ta, tb) with its
/// buffers and flags in desc = {out, a, b, ta, tb} (buffers as the loops' descriptors give them:
/// an arena offset >= 0, or -1 - k for the run's slot k). Sizes are products of static
/// dimensions and the batch: sizes[i] * batch^batchPowers[i], {extent, work} or {m, n, k}.
typedef struct ReccCall {
  ReccLoopFn fn;
  const int64_t* desc;
  int64_t sizes[3];
  int64_t batchPowers[3];
} ReccCall;

/// Runs calls[0], ..., calls[count - 1] in order. The entry calls each run of loops and
/// products between other kernels through one constant table instead of one call each: a
/// recurrent model's step is over a thousand such calls, and as straight-line code they were
/// half of its machine code and over a quarter of the code generator's time.
void recc_rt_run_calls(const ReccCall* calls, int64_t count, int64_t batch, void** slots, uint8_t* arena);

/// out[M,N] = op(a) x op(b); op(a) = a[M,K] (ta=0) or a[K,M]^T (ta=1); same for b with [K,N]/[N,K].
/// Row-major. Overwrites out.
void recc_rt_matmul_f32(float* out, const float* a, const float* b, int64_t m, int64_t n,
                        int64_t k, int32_t ta, int32_t tb);

/// out[i, :] = table[ids[i], :] for i < count; rows have `dim` floats and start `stride` floats
/// apart (dim, or 3 * dim for a table stored as row records, whose rows' m and v are then
/// prefetched too, for the update that follows). If max_norm > 0 the looked-up rows of `table`
/// are first rescaled in place to L2 norm <= max_norm (PyTorch's Embedding(max_norm=...)). ids
/// must be in [0, rows) (the data loader guarantees it).
void recc_rt_gather_f32(float* out, float* table, const int32_t* ids, int64_t count, int64_t dim,
                        int64_t stride, int64_t rows, float max_norm);

/// out[rows, dim] = 0; out[ids[i], :] += g[i / repeat, :] for i < count. repeat > 1: each row of g
/// is the gradient of `repeat` consecutive ids (a multi-hot field's lookups summed per row);
/// count is a multiple of repeat.
void recc_rt_scatter_add_f32(float* out, const int32_t* ids, const float* g, int64_t count,
                             int64_t dim, int64_t rows, int64_t repeat);

// ---- sequence / attention / normalisation kernels (SequenceKernels.cpp) ----

/// For l < batch: out[l] (M x N) = op(a + l*stride_a) x op(b + l*stride_b), as recc_rt_matmul_f32;
/// a stride of 0 shares one operand across the batch (a 2-D operand broadcast).
void recc_rt_batch_matmul_f32(float* out, const float* a, const float* b, int64_t batch, int64_t m,
                              int64_t n, int64_t k, int32_t ta, int32_t tb, int64_t stride_a,
                              int64_t stride_b);

/// Softmax (log_softmax when log != 0) of x viewed as [outer, len, inner] along the middle axis.
void recc_rt_softmax_f32(float* out, const float* x, int64_t outer, int64_t len, int64_t inner,
                         int32_t log);

/// out[r, :] = (x[r, :] - mean) / sqrt(var + eps) * gamma + beta per row (biased variance).
void recc_rt_layer_norm_f32(float* out, const float* x, const float* gamma, const float* beta,
                            int64_t rows, int64_t dim, float eps);

// ---- shards of a batch (Shards.cpp; compiler/codegen/Sharding.h) ----

/// The shards of one batch that run at once, one thread each (Shards.h).
typedef struct ReccShardGroup ReccShardGroup;
/// A run's place among them; a null pointer (or a group of one) when the batch runs whole.
typedef struct ReccShard {
  ReccShardGroup* group;
  int32_t index;
} ReccShard;

/// out[n] = the sum over the group's shards of their `in`, added in shard order (every shard
/// gets the same bits); out = in when the batch runs whole. Every shard of the group calls it
/// with the same n, concurrently (a barrier). out and in do not overlap.
void recc_rt_shard_sum_f32(const ReccShard* shard, float* out, const float* in, int64_t n);

/// The batch moments of x[rows, dim] per column: out[0, :] the mean, out[1, :] 1/sqrt(biased
/// variance + eps); updates running_mean / running_var in place (momentum; unbiased variance for
/// running_var). In a shard, the moments are those of the whole batch (shard sums) and shard 0
/// updates.
void recc_rt_batch_moments_f32(const ReccShard* shard, float* out, const float* x, float* running_mean,
                               float* running_var, int64_t rows, int64_t dim, float eps, float momentum);

/// out[r] = logsumexp(logits[r, :]) - logits[r, target[r]]; 0 where target[r] == ignore_index
/// or out of [0, classes) (the reference evaluator rejects the latter).
void recc_rt_cross_entropy_f32(float* out, const float* logits, const int32_t* target, int64_t rows,
                               int64_t classes, int32_t ignore_index);

/// out[length, dim]: sinusoidal positional encoding (computed in double, rounded).
void recc_rt_positional_encoding_f32(float* out, int64_t length, int64_t dim);

/// out[n, out_len, cout] = bias + sum_k,c x[n, t*stride + k - padding, c] * w[k, c, :] (zero
/// padding), x[n, len, cin], w[kernel, cin, cout]: im2col, then one GEMM.
void recc_rt_conv1d_f32(float* out, const float* x, const float* w, const float* bias, int64_t n,
                        int64_t len, int64_t cin, int64_t cout, int64_t kernel, int64_t stride,
                        int64_t padding, int64_t out_len);

/// im2col: cols[n, out_len, kernel*ch] from x[n, len, ch] (zeros outside the sequence).
void recc_rt_unfold1d_f32(float* cols, const float* x, int64_t n, int64_t len, int64_t ch,
                          int64_t kernel, int64_t stride, int64_t padding, int64_t out_len);

/// col2im, the adjoint: out[n, len, ch] = 0, then every column entry is added to its source.
void recc_rt_fold1d_f32(float* out, const float* cols, int64_t n, int64_t len, int64_t ch,
                        int64_t kernel, int64_t stride, int64_t padding, int64_t out_len);

/// Optimizer hyperparameters; `step` is the 1-based step number of the update being applied
/// (the driver increments it before each training step).
struct ReccOptimizer {
  int32_t kind;  // 0 = SGD, 1 = Adam, 2 = AdamW
  float lr, beta1, beta2, eps, weight_decay;
  int64_t step;
  int64_t seed = 0;  // the run's --seed; dropout masks depend on it (DropoutHash.h)
};

/// One optimizer step on n floats, PyTorch semantics:
///   SGD:   p -= lr * (g + wd * p)
///   Adam:  g' = g + wd * p; m = b1 m + (1-b1) g'; v = b2 v + (1-b2) g'^2;
///          p -= lr * (m / (1-b1^t)) / (sqrt(v / (1-b2^t)) + eps)
///   AdamW: p *= (1 - lr*wd); then Adam with g' = g.
/// m and v are unused by SGD (may be null).
void recc_rt_update_f32(const ReccOptimizer* opt, float* param, const float* grad, float* m,
                        float* v, int64_t n);

/// The optimizer step on a table param[rows, dim] (rows `stride` floats apart, m and v likewise)
/// whose gradient is sum_k scatter_add(ids[k],
/// grads[k]) (counts[k] ids, grads[k] [counts[k], dim]), touching only the rows named by ids:
/// duplicate ids are summed first (in order of appearance), then every distinct row gets the
/// recc_rt_update_f32 formula. Adam/AdamW are lazy (m, v, weight decay on those rows only);
/// SGD equals the dense step (weight decay, when nonzero, shrinks every row).
void recc_rt_sparse_update_f32(const ReccOptimizer* opt, float* param, float* m, float* v, int64_t rows,
                               int64_t dim, int64_t stride, int32_t parts, const int32_t* const* ids,
                               const float* const* grads, const int64_t* counts);
}

namespace recc {
/// (symbol name, address) of every recc_rt_ kernel, for explicit JIT registration.
std::vector<std::pair<std::string, void*>> kernelSymbols();
}  // namespace recc
