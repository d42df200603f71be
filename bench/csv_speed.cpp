// CSV reading speed: writes a ~100 MB CSV shaped like data/ctr_train.csv (ids, '|'-separated
// genres, a year, floats, a 0/1 label, a few quoted cells) and times readCsv and encode.
// Not part of the build or the tests; compile by hand against the data library:
//
//   g++ -O2 -std=c++17 -I. bench/csv_speed.cpp BUILD/librecc_{data,kernels,ir}.a -o /tmp/csv_speed
//   /tmp/csv_speed [MB] [threads] [path]
//
// threads (default 2) is what `recc train --threads N` passes to readCsv and encode.
#include <chrono>
#include <ctime>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <random>
#include <string>

#include "runtime/data/Dataset.h"

namespace {

double seconds(std::chrono::steady_clock::time_point a) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - a).count();
}

// CPU time of this process (the machine may be shared: wall time then overstates the cost).
double cpuSeconds() { return static_cast<double>(std::clock()) / CLOCKS_PER_SEC; }

size_t writeFile(const std::string& path, size_t targetBytes) {
  static const char* kGenres[] = {"Action", "Adventure", "Animation", "Children", "Comedy",
                                  "Crime",  "Documentary", "Drama",   "Fantasy",  "Horror",
                                  "Musical", "Mystery",  "Romance",   "Sci-Fi",   "Thriller"};
  std::mt19937_64 rng(7);
  std::ofstream out(path, std::ios::binary);
  std::string buf = "user_id,movie_id,genres,year,rating,timestamp,label\n";
  size_t total = 0;
  while (total < targetBytes) {
    uint64_t r = rng();
    buf += std::to_string(1 + r % 600) + ',' + std::to_string(1 + (r >> 10) % 190000) + ',';
    int ng = 1 + static_cast<int>((r >> 30) % 4);
    bool quoted = (r >> 34) % 97 == 0;  // an occasional quoted cell, some with "" inside
    if (quoted) buf += '"';
    for (int g = 0; g < ng; ++g) {
      if (g) buf += '|';
      buf += kGenres[(r >> (36 + 4 * g)) % 15];
    }
    if (quoted) buf += (r >> 60) % 2 ? "\"\"x\"\"\"" : "\"";
    buf += ',' + std::to_string(1950 + (r >> 52) % 70) + ',' + std::to_string((r >> 20) % 10) +
           ".5," + std::to_string(900000000 + (r & 0xFFFFFF)) + ',' +
           ((r >> 59) & 1 ? "1" : "0") + '\n';
    if (buf.size() > (1 << 20)) {
      out << buf;
      total += buf.size();
      buf.clear();
    }
  }
  out << buf;
  return total + buf.size();
}

}  // namespace

int main(int argc, char** argv) {
  size_t mb = argc > 1 ? std::strtoul(argv[1], nullptr, 10) : 100;
  const int threads = argc > 2 ? std::atoi(argv[2]) : 2;
  std::string path = argc > 3 ? argv[3] : "/tmp/recc_csv_speed.csv";
  size_t bytes = writeFile(path, mb << 20);
  double size = static_cast<double>(bytes) / 1e6;

  using recc::InputKind;
  std::vector<recc::InputDecl> inputs(5);
  inputs[0].name = "user_id", inputs[0].kind = InputKind::Id;
  inputs[1].name = "movie_id", inputs[1].kind = InputKind::Id;
  inputs[2].name = "genres", inputs[2].kind = InputKind::Ids, inputs[2].length = 6;
  inputs[3].name = "year", inputs[3].kind = InputKind::Id;
  inputs[4].name = "label", inputs[4].kind = InputKind::Label;

  for (int rep = 0; rep < 3; ++rep) {
    auto t0 = std::chrono::steady_clock::now();
    double c0 = cpuSeconds();
    recc::CsvTable t = recc::readCsv(path, threads);
    double read = seconds(t0), readCpu = cpuSeconds() - c0;
    auto t1 = std::chrono::steady_clock::now();
    double c1 = cpuSeconds();
    recc::Vocabularies v;
    recc::Dataset d = recc::encode(t, inputs, v, true, true, threads);
    double enc = seconds(t1), encCpu = cpuSeconds() - c1;
    std::printf("%d threads, %.1f MB, %lld rows: readCsv %.0f MB/s (cpu %.0f MB/s); encode %.0f MB/s "
                "(cpu %.0f MB/s); read+encode %.0f MB/s (cpu %.0f MB/s)\n",
                threads, size, static_cast<long long>(t.rows), size / read, size / readCpu, size / enc,
                size / encCpu, size / (read + enc), size / (readCpu + encCpu));
  }
  std::remove(path.c_str());
  return 0;
}
