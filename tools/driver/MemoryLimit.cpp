// Memory limit check for parameters and optimizer state.
#include "tools/driver/MemoryLimit.h"

#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <string>

namespace recc {

uint64_t availableMemoryBytes() {
  std::ifstream in("/proc/meminfo");
  std::string key;
  uint64_t kb = 0;
  std::string unit;
  while (in >> key >> kb >> unit)
    if (key == "MemAvailable:") return kb * 1024;
  long pages = sysconf(_SC_PHYS_PAGES), size = sysconf(_SC_PAGESIZE);
  return pages > 0 && size > 0 ? static_cast<uint64_t>(pages) * static_cast<uint64_t>(size) : UINT64_MAX;
}

static std::string gib(long double bytes) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.1Lf GiB", bytes / (1024.0L * 1024 * 1024));
  return buf;
}

void checkModelFitsMemory(const Graph& g, int stateCopies, uint64_t extraBytes) {
  long double bytes = static_cast<long double>(extraBytes);
  for (const ParamDecl& p : g.params) {
    long double n = 1;
    for (const Dim& d : p.shape) n *= static_cast<long double>(d.n);
    if (n > 9.2e18L)
      throw DiagError(p.loc, "parameter " + p.name + " " + shapeStr(p.shape) + " has more than 2^63 elements");
    bytes += n * 4.0L * (1 + stateCopies);
  }
  long double avail = static_cast<long double>(availableMemoryBytes());
  if (bytes > avail)
    throw DiagError({}, "model '" + g.model + "' needs " + gib(bytes) +
                            " for its parameters and optimizer state, more than the " + gib(avail) +
                            " of memory available; reduce dim, layer sizes or vocabularies");
}

}  // namespace recc
