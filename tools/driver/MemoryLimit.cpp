// Memory limit check for parameters, optimizer state and arenas.
#include "tools/driver/MemoryLimit.h"

#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <fstream>

#include "compiler/codegen/BufferPlan.h"

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

namespace {

/// Elements of `s` with B = batch, in long double: never wraps.
long double elements(const Shape& s, int64_t batch) {
  long double n = 1;
  for (const Dim& d : s) n *= static_cast<long double>(d.isStatic() ? d.n : batch);
  return n;
}

std::string bytesStr(long double bytes) {
  static const char* units[] = {"MiB", "GiB", "TiB", "PiB", "EiB"};
  long double v = bytes / (1024.0L * 1024);
  size_t u = 0;
  for (; v >= 1024 && u + 1 < sizeof units / sizeof units[0]; ++u) v /= 1024;
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.1Lf %s", v, units[u]);
  return buf;
}

}  // namespace

ArenaUse planArena(const std::string& what, const Graph& g, const std::vector<ValueId>& fetches, int64_t maxBatch) {
  ArenaUse a{what, maxBatch, 0};
  for (const Node& n : g.nodes) a.bytes += elements(n.shape, maxBatch) * 4;  // f32 and i32: 4 bytes
  if (a.bytes >= 0x1p62L) return a;
  a.bytes = static_cast<long double>(planBuffers(g, planFusion(g, fetches), maxBatch).arenaBytes);
  return a;
}

void checkModelFitsMemory(const Graph& g, int stateCopies, const std::vector<ArenaUse>& arenas) {
  long double params = 0, recordMoments = 0;
  for (const ParamDecl& p : g.params) {
    long double n = elements(p.shape, 0);
    if (n > 9.2e18L)
      throw DiagError(p.loc, "parameter " + p.name + " " + shapeStr(p.shape) + " has more than 2^63 elements");
    params += n * 4.0L;
    if (p.rowRecords) recordMoments += n * 8.0L;
  }
  // A table stored as row records holds its moments even where nothing trains (inference).
  const long double state = std::max(params * stateCopies, recordMoments);
  long double bytes = params + state;
  std::string parts = "parameters " + bytesStr(params);
  if (state > 0) parts += ", optimizer state " + bytesStr(state);
  for (const ArenaUse& a : arenas) {
    bytes += a.bytes;
    parts += ", " + a.what + " arena for batch " + std::to_string(a.batch) + " " + bytesStr(a.bytes);
  }
  long double avail = static_cast<long double>(availableMemoryBytes());
  if (bytes > avail)
    throw DiagError({}, "model '" + g.model + "' needs " + bytesStr(bytes) + " of memory (" + parts + "), more than the " +
                            bytesStr(avail) + " available; use a smaller --batch, or reduce dim, layer sizes or vocabularies");
}

}  // namespace recc
