// libFuzzer target: the bytes are a CSV file given to readCsv, then encoded. A DataError is the
// expected answer to bad input; anything else (another exception, a crash, a hang, a sanitizer
// report, an encoded id outside its vocabulary) is a finding.
//
// Encoding uses a fixed set of inputs, bound by position to the header's columns (so that any
// header reaches encode): a single id, ids[6] (sharing the id's vocabulary), a dense value, a
// binary label and a dense[3]. Each kind is also encoded alone against every column (up to 8).
// Every training encoding is checked against the contract in Dataset.h, encoded again in test
// mode (which must give the same values) and copied into a batch.
#include <fcntl.h>
#include <unistd.h>

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "runtime/data/Dataset.h"

namespace {

recc::InputDecl decl(const std::string& name, recc::InputKind kind, const std::string& column,
                     const std::string& vocab = "", int64_t length = 0) {
  recc::InputDecl d;
  d.name = name;
  d.column = column;
  d.vocab = vocab;
  d.kind = kind;
  d.length = length;
  return d;
}

// A broken invariant: say which, then abort (libFuzzer saves the input as a crash).
#define FUZZ_CHECK(cond)                                                               \
  do {                                                                                 \
    if (!(cond)) {                                                                     \
      std::fprintf(stderr, "fuzz_csv: check failed: %s (%s:%d)\n", #cond, __FILE__, __LINE__); \
      std::abort();                                                                    \
    }                                                                                  \
  } while (0)

// Encoded data must respect the contract in Dataset.h.
void check(const recc::Dataset& d, const std::vector<recc::InputDecl>& inputs,
           const recc::Vocabularies& vocabs) {
  FUZZ_CHECK(d.rows > 0);
  FUZZ_CHECK(d.columns.size() == inputs.size());
  for (size_t k = 0; k < inputs.size(); ++k) {
    const recc::Column& c = d.columns[k];
    const recc::InputDecl& in = inputs[k];
    const size_t n = static_cast<size_t>(d.rows * c.width);
    switch (in.kind) {
      case recc::InputKind::Id:
      case recc::InputKind::Ids: {
        FUZZ_CHECK(c.dtype == recc::DType::I32);
        FUZZ_CHECK(c.width == (in.kind == recc::InputKind::Id ? 1 : in.length));
        FUZZ_CHECK(c.ids.size() == n);
        const int64_t size = vocabs.at(in.vocab).size();
        for (int32_t id : c.ids) FUZZ_CHECK(id >= 0 && id < size);
        break;
      }
      case recc::InputKind::Dense:
        FUZZ_CHECK(c.dtype == recc::DType::F32);
        FUZZ_CHECK(c.width == (in.length > 0 ? in.length : 1));
        FUZZ_CHECK(c.values.size() == n);
        for (float v : c.values) FUZZ_CHECK(std::isfinite(v));
        break;
      case recc::InputKind::Label:
        FUZZ_CHECK(c.dtype == recc::DType::F32);
        FUZZ_CHECK(c.width == 1);
        FUZZ_CHECK(c.values.size() == n);
        for (float v : c.values) FUZZ_CHECK(v == 0 || v == 1);
        break;
    }
  }
}

void encodeAndCheck(const recc::CsvTable& t, const std::vector<recc::InputDecl>& inputs) {
  recc::Vocabularies vocabs;
  try {
    recc::Dataset train = recc::encode(t, inputs, vocabs, true, true);
    check(train, inputs, vocabs);
    recc::Dataset test = recc::encode(t, inputs, vocabs, false, false);
    check(test, inputs, vocabs);
    // Every token was added by the training pass: the same table encodes the same way again
    // (only empty single-id cells count as unknown, in both passes).
    FUZZ_CHECK(test.oovCount == train.oovCount);
    FUZZ_CHECK(test.truncatedCells() == train.truncatedCells());
    for (size_t k = 0; k < inputs.size(); ++k) {
      FUZZ_CHECK(test.columns[k].ids == train.columns[k].ids);
      FUZZ_CHECK(test.columns[k].values == train.columns[k].values);
    }
    std::vector<int64_t> order = recc::shuffledOrder(train.rows, 7);
    recc::BatchBuffers buf;
    recc::fillBatch(train, order, 0, train.rows, buf);
    FUZZ_CHECK(buf.pointers().size() == inputs.size());
  } catch (const recc::DataError&) {
  }
}

// A private temp file, rewritten for every input (readCsv reads a path).
const std::string& tempPath() {
  static const std::string path = [] {
    const char* dir = std::getenv("TMPDIR");
    std::string tmpl = std::string(dir && *dir ? dir : "/tmp") + "/recc-fuzz-csv-XXXXXX";
    int fd = ::mkstemp(tmpl.data());
    if (fd < 0) std::abort();
    ::close(fd);
    std::atexit([] { ::unlink(tempPath().c_str()); });
    return tmpl;
  }();
  return path;
}

bool writeFile(const std::string& path, const uint8_t* data, size_t size) {
  int fd = ::open(path.c_str(), O_WRONLY | O_TRUNC | O_CLOEXEC);
  if (fd < 0) return false;
  size_t done = 0;
  while (done < size) {
    ssize_t n = ::write(fd, data + done, size - done);
    if (n <= 0) break;
    done += static_cast<size_t>(n);
  }
  ::close(fd);
  return done == size;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string& path = tempPath();
  if (!writeFile(path, data, size)) std::abort();
  recc::CsvTable t;
  try {
    t = recc::readCsv(path);
  } catch (const recc::DataError&) {
    return 0;
  }
  FUZZ_CHECK(t.rows >= 0);
  FUZZ_CHECK(!t.header.empty());
  for (size_t c = 0; c < t.header.size(); ++c) {
    FUZZ_CHECK(t.column(t.header[c]) == static_cast<int>(c));
    for (int64_t r = 0; r < t.rows; ++r) {
      std::string_view cell = t.cell(c, r);
      FUZZ_CHECK(cell.size() <= size);
    }
  }
  const size_t ncols = t.header.size();
  auto col = [&](size_t i) { return t.header[i % ncols]; };
  using K = recc::InputKind;
  encodeAndCheck(t, {decl("item", K::Id, col(0), "item"), decl("hist", K::Ids, col(1), "item", 6),
                     decl("x", K::Dense, col(2)), decl("label", K::Label, col(3)),
                     decl("side", K::Dense, col(4), "", 3)});
  for (size_t c = 0; c < ncols && c < 8; ++c) {
    encodeAndCheck(t, {decl("id", K::Id, col(c), "v")});
    encodeAndCheck(t, {decl("ids", K::Ids, col(c), "v", 6)});
    encodeAndCheck(t, {decl("x", K::Dense, col(c))});
    encodeAndCheck(t, {decl("xs", K::Dense, col(c), "", 3)});
    encodeAndCheck(t, {decl("y", K::Label, col(c))});
  }
  return 0;
}
