// CSV data -> encoded input columns, vocabularies, batches.
//
// Encoding (documented in README): every vocabulary reserves index 0 for padding and index 1
// for out-of-vocabulary; tokens seen in the training file get 2, 3, ... in order of first
// appearance. Multi-valued cells ("Action|Drama") are split on '|', encoded, and padded with
// 0 or truncated to the declared length (empty tokens are skipped, an empty cell is all
// padding). An empty single-id cell encodes as 1 (<oov>) and counts in oovCount: a missing
// value is unknown, not padding. Cells are taken verbatim (no trimming) for ids; dense cells
// may have surrounding spaces; dense[n] cells hold up to n numbers separated by '|', padded
// with 0 or truncated like ids. Truncated cells are counted per input (Dataset::truncations) so
// that the driver can warn about the data it dropped.
#pragma once
#include <cstdint>
#include <map>
#include <memory>
#include <stdexcept>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "compiler/ir/Graph.h"

namespace recc {

/// A user-facing data error; the message names file, row (1-based, header = row 1) and column.
class DataError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

/// A parsed CSV file: header plus cells. RFC 4180: quoted fields with commas, doubled quotes
/// and newlines; UTF-8 BOM and CRLF accepted. Ragged rows, an empty file or a missing file
/// throw DataError. A header-only file is valid here (rows = 0); trailing blank lines are
/// ignored, a blank line between rows is a ragged row. Duplicate header names are an error.
///
/// Cells are not copied: the table keeps the file's bytes (memory-mapped) and one packed
/// 8-byte reference per cell, column-major; quoted cells whose doubled quotes had to be undone
/// live in a side arena. A cell may be at most 16 MiB long. Views returned by cell() stay
/// valid while the table (or a copy of it) lives.
class CsvTable {
 public:
  std::string path;
  std::vector<std::string> header;
  int64_t rows = 0;

  int column(const std::string& name) const;  // -1 if absent
  std::string_view cell(size_t col, int64_t row) const {
    uint64_t x = cells_[col * stride_ + static_cast<size_t>(row)];
    const char* base = (x & kArenaBit) ? arena_.data() : text_;
    return {base + ((x & ~kArenaBit) >> kLenBits), static_cast<size_t>(x & kLenMask)};
  }

  /// One column's cells: col[r] is cell(c, r).
  class Column {
   public:
    Column(const CsvTable& t, size_t c) : t_(&t), c_(c) {}
    std::string_view operator[](int64_t r) const { return t_->cell(c_, r); }
    int64_t size() const { return t_->rows; }

   private:
    const CsvTable* t_;
    size_t c_;
  };
  Column col(size_t c) const { return Column(*this, c); }

  // Cell references: offset << kLenBits | length, plus kArenaBit for arena cells.
  static constexpr int kLenBits = 24;
  static constexpr uint64_t kLenMask = (uint64_t{1} << kLenBits) - 1;
  static constexpr uint64_t kArenaBit = uint64_t{1} << 63;

 private:
  friend CsvTable readCsv(const std::string& path, int threads);
  std::shared_ptr<const void> storage_;  // owns the bytes text_ points into
  const char* text_ = nullptr;
  std::string arena_;
  std::shared_ptr<uint64_t[]> cells_;  // cells_[c * stride_ + r], r < rows
  size_t stride_ = 0;
};
/// Reads `path`; a large file is scanned on up to `threads` threads, with the same table and the
/// same first error as one.
CsvTable readCsv(const std::string& path, int threads = 1);

/// A vocabulary: token ids 0 ("<pad>") and 1 ("<oov>") are reserved, data tokens count from 2.
/// A token of up to 7 bytes is stored in its 8-byte key alone; longer ones sit back to back in
/// one buffer. An open-addressing index maps tokens to ids: lookups take a string_view, so
/// encoding a cell does not allocate, and a vocabulary of ten million short ids holds 8 bytes
/// a token plus its index slots, not a string object each (a large file's read is dominated by
/// the first touch of fresh memory).
class Vocab {
 public:
  Vocab();
  int32_t add(std::string_view tok);           // existing id or a new one
  int32_t lookup(std::string_view tok) const;  // 1 if unseen; "<pad>"/"<oov>" are never tokens
  int64_t size() const { return static_cast<int64_t>(keys_.size()); }
  /// Valid until the next token is added.
  std::string_view token(int64_t id) const;
  bool operator==(const Vocab& o) const { return keys_ == o.keys_ && text_ == o.text_; }
  /// Makes room for `more` new tokens without rehashing the index or moving the keys on the way.
  void reserve(size_t more);
  /// Ids of cells[begin, end) into out[begin, end), as add() (with `grow`) or lookup() row by
  /// row would give them; an empty cell is 1. Returns how many are 1 (empty or unseen). A
  /// large index is probed in cache-sized ranges (see Vocab.cpp).
  int64_t encode(CsvTable::Column cells, int64_t begin, int64_t end, bool grow, int32_t* out);

 private:
  struct Slot {
    uint32_t hash = 0;
    int32_t id = 0;  // 0 = empty (id 0 is <pad>, never in the index)
  };
  // The slot holding tok, or the empty slot where it belongs.
  size_t find(std::string_view tok, uint64_t key, uint32_t hash) const;
  bool holds(int32_t id, std::string_view tok, uint64_t key) const;  // is token `id` tok (keyed `key`)?
  void rehash(size_t slots);
  void push(std::string_view tok, uint64_t key);  // appends a token's bytes and key
  struct BulkScratch;
  void loadRange(size_t k) const;
  int64_t encodeBulk(CsvTable::Column cells, int64_t begin, int64_t n, bool grow, int32_t* out, BulkScratch& s);
  std::string text_;            // the long tokens, each a 4-byte length and its bytes
  std::vector<uint64_t> keys_;  // keys_[id]: a short token's key, or a long one's place in text_ (see Vocab.cpp)
  std::vector<Slot> slots_;     // size is a power of two, at most 3/4 full (linear probing)
};
using Vocabularies = std::map<std::string, Vocab>;

/// The number of distinct cells in rows [from, size) of a column, within a few percent (a
/// HyperLogLog sketch): encode() sizes a vocabulary with it when a column is mostly new ids.
size_t distinctEstimate(CsvTable::Column cells, int64_t from);

/// One encoded column per Graph::inputs entry.
struct Column {
  DType dtype = DType::F32;
  int64_t width = 1;            // values per row (L for ids[L], n for dense[n])
  std::vector<int32_t> ids;     // rows * width when I32
  std::vector<float> values;    // rows * width when F32
};

/// The multi-valued cells (ids<v>[n], dense[n]) of one input that held more than its declared
/// n values; the values after the n-th were dropped.
struct Truncation {
  std::string column;    // the CSV column
  int64_t length = 0;    // the declared n
  int64_t cells = 0;     // how many cells were cut
  int64_t firstRow = 0;  // the first one, numbered as in DataError messages (header = row 1)
};

struct Dataset {
  std::string path;
  int64_t rows = 0;
  std::vector<Column> columns;  // per Graph::inputs
  int64_t oovCount = 0;         // ids not in the vocabulary (encoded as 1)
  std::vector<Truncation> truncations;  // one per input with truncated cells, in input order
  int64_t truncatedCells() const;       // their total
};

/// What the driver prints (after "warning: ") once per truncated column of a dataset:
/// "<file>: N cells of column <col> had more than n values; extra values were dropped (first at row R)".
std::string truncationWarning(const Dataset& d, const Truncation& t);

/// Encodes `csv` for `inputs`. With `grow`, tokens are added to the vocabularies (training
/// file); otherwise unseen tokens map to 1 and are counted. Labels must be 0/1, dense values
/// finite numbers; a missing column names the input and its declaration. Zero rows is an
/// error. Without `needLabels`, a label input whose column is absent is filled with zeros.
/// Inputs with different vocabularies are encoded on up to `threads` threads, with the same
/// result as one.
Dataset encode(const CsvTable& csv, const std::vector<InputDecl>& inputs, Vocabularies& vocabs,
               bool grow, bool needLabels, int threads = 1);

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
