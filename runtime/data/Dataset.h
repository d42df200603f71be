// CSV data -> encoded input columns, vocabularies, batches.
//
// Encoding (documented in README): every vocabulary reserves index 0 for padding and index 1
// for out-of-vocabulary; tokens seen in the training file get 2, 3, ... in order of first
// appearance. Multi-valued cells ("Action|Drama") are split on '|', encoded, and padded with
// 0 or truncated to the declared length (empty tokens are skipped, an empty cell is all
// padding). An empty single-id cell encodes as 1 (<oov>) and counts in oovCount: a missing
// value is unknown, not padding. Cells are taken verbatim (no trimming) for ids; dense cells
// may have surrounding spaces; dense[n] cells hold n numbers separated by '|'.
#pragma once
#include <cstdint>
#include <map>
#include <stdexcept>
#include <string>
#include <unordered_map>
#include <vector>

#include "compiler/ir/Graph.h"

namespace recc {

/// A user-facing data error; the message names file, row (1-based, header = row 1) and column.
class DataError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

/// A parsed CSV file: header plus cells, column-major. RFC 4180: quoted fields with commas,
/// doubled quotes and newlines; UTF-8 BOM and CRLF accepted. Ragged rows, an empty file or a
/// missing file throw DataError. A header-only file is valid here (rows = 0); trailing blank
/// lines are ignored, a blank line between rows is a ragged row. Duplicate header names are
/// an error.
struct CsvTable {
  std::string path;
  std::vector<std::string> header;
  std::vector<std::vector<std::string>> columns;  // columns[c][r]
  int64_t rows = 0;
  int column(const std::string& name) const;  // -1 if absent
};
CsvTable readCsv(const std::string& path);

struct Vocab {
  std::vector<std::string> tokens;  // tokens[0] = "<pad>", tokens[1] = "<oov>"
  std::unordered_map<std::string, int32_t> index;
  Vocab();
  int32_t add(const std::string& tok);     // existing index or a new one
  int32_t lookup(const std::string& tok) const;  // 1 if unseen
  int64_t size() const { return static_cast<int64_t>(tokens.size()); }
};
using Vocabularies = std::map<std::string, Vocab>;

/// One encoded column per Graph::inputs entry.
struct Column {
  DType dtype = DType::F32;
  int64_t width = 1;            // values per row (L for ids[L], n for dense[n])
  std::vector<int32_t> ids;     // rows * width when I32
  std::vector<float> values;    // rows * width when F32
};

struct Dataset {
  std::string path;
  int64_t rows = 0;
  std::vector<Column> columns;  // per Graph::inputs
  int64_t oovCount = 0;         // ids not in the vocabulary (encoded as 1)
  int64_t truncatedCells = 0;   // multi-valued cells longer than the declared length
};

/// Encodes `csv` for `inputs`. With `grow`, tokens are added to the vocabularies (training
/// file); otherwise unseen tokens map to 1 and are counted. Labels must be 0/1, dense values
/// finite numbers; a missing column names the input and its declaration. Zero rows is an
/// error. Without `needLabels`, a label input whose column is absent is filled with zeros.
Dataset encode(const CsvTable& csv, const std::vector<InputDecl>& inputs, Vocabularies& vocabs,
               bool grow, bool needLabels);

/// Vocabulary sizes keyed by vocabulary name (for bindVocabularies).
std::map<std::string, int64_t> vocabSizes(const Vocabularies& v);

/// A permutation of [0, rows) from a seeded generator (same seed, same order, any platform).
std::vector<int64_t> shuffledOrder(int64_t rows, uint64_t seed);

/// Copies rows order[begin, begin+n) of every column into per-input batch buffers
/// (`out[k]` is resized to n * width of column k; ids or floats per column dtype).
struct BatchBuffers {
  std::vector<std::vector<int32_t>> ids;
  std::vector<std::vector<float>> values;
  std::vector<const void*> pointers() const;  // per input, in Graph::inputs order
};
void fillBatch(const Dataset& d, const std::vector<int64_t>& order, int64_t begin, int64_t n,
               BatchBuffers& out);

}  // namespace recc
