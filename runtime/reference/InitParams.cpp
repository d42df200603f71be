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

/// Each parameter's initial values, drawn in declaration order from one seeded generator:
/// adding a param at the end does not change the others' values. zeros/ones draw nothing.
void drawValues(const Graph& g, const std::vector<size_t>& sizes, uint64_t seed, std::vector<std::vector<float>>& out) {
  std::mt19937_64 gen(seed);
  for (size_t k = 0; k < g.params.size(); ++k) {
    const ParamDecl& p = g.params[k];
    std::vector<float> v = zeroed<float>(sizes[k]);
    if (p.init == "normal") {
      // Box-Muller, both outputs of a pair used (std::normal_distribution is
      // implementation-defined, so it would make checkpoints differ across standard libraries).
      const double twoPi = 6.283185307179586;
      for (size_t i = 0; i < v.size(); i += 2) {
        double r = std::sqrt(-2.0 * std::log(unitOpen(gen))), th = twoPi * unit(gen);
        v[i] = static_cast<float>(p.scale * r * std::cos(th));
        if (i + 1 < v.size()) v[i + 1] = static_cast<float>(p.scale * r * std::sin(th));
      }
    } else if (p.init == "uniform") {
      for (float& x : v) x = static_cast<float>(p.scale * (2.0 * unit(gen) - 1.0));
    } else if (p.init == "ones") {
      std::fill(v.begin(), v.end(), 1.0f);
    }
    // An embedding table's <pad> and <oov> rows start at zero (drawn all the same, so that the
    // other rows keep their values). No training step updates <oov>: ids first seen in test
    // data would otherwise embed to the random draw: with DIEN, that draw alone made one seed's
    // test AUC 0.6612 instead of 0.6715.
    if (p.embedding && !p.shape.empty() && p.shape[0].isStatic() && p.shape[0].n > 0) {
      const int64_t rows = std::min(kReservedIds, p.shape[0].n);
      std::fill(v.begin(), v.begin() + rows * (static_cast<int64_t>(v.size()) / p.shape[0].n), 0.0f);
    }
    out.push_back(std::move(v));
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
  s.m.resize(sizes.size());
  s.v.resize(sizes.size());
  std::exception_ptr error;
  auto zeroMoments = [&] {
    try {
      for (size_t i = 0; i < sizes.size(); ++i) {
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
    drawValues(g, sizes, seed, s.values);
  } catch (...) {
    if (helper.joinable()) helper.join();
    throw;
  }
  if (helper.joinable()) helper.join();
  if (error) std::rethrow_exception(error);
  return s;
}

}  // namespace recc
