// Parameter initialisation from one seeded generator, identical on every platform.
#include <cmath>
#include <random>

#include "runtime/kernels/Memory.h"
#include "runtime/reference/Evaluator.h"

namespace recc {

namespace {

// Uniform doubles from the top 53 bits: portable, unlike std::uniform_real_distribution.
double unit(std::mt19937_64& gen) { return static_cast<double>(gen() >> 11) * 0x1.0p-53; }           // [0, 1)
double unitOpen(std::mt19937_64& gen) { return static_cast<double>((gen() >> 11) + 1) * 0x1.0p-53; }  // (0, 1]

}  // namespace

ParamState initParams(const Graph& g, uint64_t seed) {
  // One generator for all params in declaration order: adding a param at the end does not
  // change the others' values. zeros/ones draw nothing.
  std::mt19937_64 gen(seed);
  ParamState s;
  for (const ParamDecl& p : g.params) {
    for (const Dim& d : p.shape)
      if (!d.isStatic())
        throw DiagError(p.loc, "parameter '" + p.name + "' has the unbound dimension " + d.str());
    std::vector<float> v = zeroed<float>(static_cast<size_t>(numElements(p.shape, 0)));
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
    } else if (p.init != "zeros") {
      throw DiagError(p.loc, "parameter '" + p.name + "': unknown initialiser '" + p.init +
                                 "' (expected normal, uniform, zeros or ones)");
    }
    s.m.push_back(zeroed<float>(v.size()));
    s.v.push_back(zeroed<float>(v.size()));
    s.values.push_back(std::move(v));
  }
  return s;
}

}  // namespace recc
