// Parameter initialisation from one seeded generator, identical on every platform.
#include <algorithm>
#include <atomic>
#include <cmath>
#include <exception>
#include <random>
#include <system_error>
#include <thread>

#include "runtime/kernels/Memory.h"
#include "runtime/reference/Evaluator.h"

namespace recc {

namespace {

// Uniform doubles from the top 53 bits: portable, unlike std::uniform_real_distribution.
double unit(std::mt19937_64& gen) { return static_cast<double>(gen() >> 11) * 0x1.0p-53; }           // [0, 1)
double unitOpen(std::mt19937_64& gen) { return static_cast<double>((gen() >> 11) + 1) * 0x1.0p-53; }  // (0, 1]

/// Writes a parameter's values in order into its buffer: dense, or the first `cols` floats of
/// each row record (then `gap` floats of moments), each once the zeroing thread has reached it.
class ValueWriter {
 public:
  ValueWriter(float* base, size_t cols, size_t gap, size_t size, const std::atomic<size_t>& zeroedTo)
      : base_(base), cols_(cols), gap_(gap), ready_(gap ? 0 : size), zeroedTo_(zeroedTo) {}
  void put(float x) {
    while (at_ >= ready_) {
      ready_ = zeroedTo_.load(std::memory_order_acquire);
      if (at_ >= ready_) std::this_thread::yield();
    }
    base_[at_++] = x;
    if (++col_ == cols_) {
      col_ = 0;
      at_ += gap_;
    }
  }

 private:
  float* base_;
  size_t cols_, gap_, ready_, at_ = 0, col_ = 0;
  const std::atomic<size_t>& zeroedTo_;
};

/// Each parameter's initial values, drawn in declaration order from one seeded generator:
/// adding a param at the end does not change the others' values. zeros/ones draw nothing.
/// A table stored as row records gets the same values, each row's in the first columns of its
/// record: `records[k]` is its buffer, zeroed up to `zeroedTo[k]` floats (another thread
/// may still be growing it).
void drawValues(const Graph& g, const std::vector<size_t>& sizes, uint64_t seed, std::vector<std::vector<float>>& out,
                const std::vector<float*>& records, const std::vector<std::atomic<size_t>>& zeroedTo) {
  std::mt19937_64 gen(seed);
  for (size_t k = 0; k < g.params.size(); ++k) {
    const ParamDecl& p = g.params[k];
    if (!p.rowRecords) out[k] = zeroed<float>(sizes[k]);
    float* base = p.rowRecords ? records[k] : out[k].data();  // out[k] itself may be growing
    const auto cols = static_cast<size_t>(p.shape.empty() ? 1 : std::max<int64_t>(p.shape.back().n, 1));
    const size_t n = sizes[k], gap = p.rowRecords ? 2 * cols : 0;
    auto writer = [&] { return ValueWriter(base, cols, gap, n, zeroedTo[k]); };
    ValueWriter w = writer();
    if (p.init == "normal") {
      // Box-Muller, both outputs of a pair used (std::normal_distribution is
      // implementation-defined, so it would make checkpoints differ across standard libraries).
      const double twoPi = 6.283185307179586;
      for (size_t i = 0; i < n; i += 2) {
        double r = std::sqrt(-2.0 * std::log(unitOpen(gen))), th = twoPi * unit(gen);
        w.put(static_cast<float>(p.scale * r * std::cos(th)));
        if (i + 1 < n) w.put(static_cast<float>(p.scale * r * std::sin(th)));
      }
    } else if (p.init == "uniform") {
      for (size_t i = 0; i < n; ++i) w.put(static_cast<float>(p.scale * (2.0 * unit(gen) - 1.0)));
    } else if (p.init == "ones") {
      for (size_t i = 0; i < n; ++i) w.put(1.0f);
    }
    // An embedding table's <pad> and <oov> rows start at zero (drawn all the same, so that the
    // other rows keep their values). No training step updates <oov>: ids first seen in test
    // data would otherwise embed to the random draw: with DIEN, that draw alone made one seed's
    // test AUC 0.6612 instead of 0.6715.
    if (p.embedding && !p.shape.empty() && p.shape[0].isStatic() && p.shape[0].n > 0) {
      const auto rows = static_cast<size_t>(std::min(kReservedIds, p.shape[0].n));
      ValueWriter z = writer();
      for (size_t i = 0; i < rows * (n / static_cast<size_t>(p.shape[0].n)); ++i) z.put(0.0f);
    }
  }
}

}  // namespace

uint64_t freshParamVersion() {
  static std::atomic<uint64_t> last{0};
  return ++last;
}

ParamState initParams(const Graph& g, uint64_t seed) {
  std::vector<size_t> sizes;
  for (const ParamDecl& p : g.params) {
    for (const Dim& d : p.shape)
      if (!d.isStatic())
        throw DiagError(p.loc, "parameter '" + p.name + "' has the unbound dimension " + d.str());
    if (p.init != "normal" && p.init != "uniform" && p.init != "ones" && p.init != "zeros")
      throw DiagError(p.loc, "parameter '" + p.name + "': unknown initialiser '" + p.init +
                                 "' (expected normal, uniform, zeros or ones)");
    sizes.push_back(static_cast<size_t>(numElements(p.shape, 0)));
  }
  ParamState s;
  // The optimizer's moments start at zero. For a large embedding table, touching that memory
  // for the first time is most of initialising it, so another thread does it while this one
  // draws the values (which come from one generator, in order, so they stay on one thread).
  // A table stored as row records holds its moments: that thread grows its zeroed buffer (first
  // the records, in 64 MiB steps within the reserved block, so it cannot fail) while this one
  // draws each row's values into it behind the zeroing.
  s.m.resize(sizes.size());
  s.v.resize(sizes.size());
  s.values.resize(sizes.size());
  std::vector<std::atomic<size_t>> zeroedTo(sizes.size());
  std::vector<float*> records(sizes.size(), nullptr);  // the reserved blocks, taken before they grow
  for (size_t i = 0; i < sizes.size(); ++i)
    if (g.params[i].rowRecords) {
      s.values[i].reserve(3 * sizes[i]);
      records[i] = s.values[i].data();
      adviseHugePages(records[i], 3 * sizes[i] * sizeof(float));
    }
  std::exception_ptr error;
  auto zeroMoments = [&] {
    for (size_t i = 0; i < sizes.size(); ++i) {
      if (!g.params[i].rowRecords) continue;
      constexpr size_t kStep = size_t{16} << 20;  // floats
      for (size_t n = 0; n < 3 * sizes[i];) {
        n = std::min(3 * sizes[i], n + kStep);
        s.values[i].resize(n);
        zeroedTo[i].store(n, std::memory_order_release);
      }
    }
    try {
      for (size_t i = 0; i < sizes.size(); ++i) {
        if (g.params[i].rowRecords) continue;
        s.m[i] = zeroed<float>(sizes[i]);
        s.v[i] = zeroed<float>(sizes[i]);
      }
    } catch (...) {
      error = std::current_exception();
    }
  };
  size_t total = 0;
  for (size_t n : sizes) total += n;
  std::thread helper;
  if (total >= (size_t{1} << 23)) {  // 32 MiB of values: worth a thread
    try {
      helper = std::thread(zeroMoments);
    } catch (const std::system_error&) {  // no thread to be had: zero them here
    }
  }
  if (!helper.joinable()) zeroMoments();
  try {
    drawValues(g, sizes, seed, s.values, records, zeroedTo);
  } catch (...) {
    if (helper.joinable()) helper.join();
    throw;
  }
  if (helper.joinable()) helper.join();
  if (error) std::rethrow_exception(error);
  return s;
}

}  // namespace recc
