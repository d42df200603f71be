// encode(): CSV cells -> id / float columns per declared input, growing the vocabularies.
#include <algorithm>
#include <atomic>
#include <charconv>
#include <cmath>
#include <exception>
#include <string_view>
#include <system_error>
#include <thread>

#include "runtime/data/Dataset.h"
#include "runtime/kernels/Memory.h"

namespace recc {

Vocab::Vocab() : text_("<pad><oov>"), offsets_{0, 5, 10}, keys_(2, 0) {}

namespace {

constexpr uint64_t kLongKey = ~uint64_t{0};

/// Tokens of up to 7 bytes are keyed by their bytes and length (compared without touching
/// `tokens`); longer ones share kLongKey and are compared as strings.
uint64_t tokenKey(std::string_view tok) {
  if (tok.size() > 7) return kLongKey;
  uint64_t k = uint64_t{tok.size()} << 56;
  for (size_t i = 0; i < tok.size(); ++i)  // not memcpy: a variable-length call costs more
    k |= uint64_t{static_cast<unsigned char>(tok[i])} << (8 * i);
  return k;
}

uint32_t tokenHash(std::string_view tok, uint64_t key) {
  uint64_t h = key;
  if (key == kLongKey) {  // FNV-1a
    h = 1469598103934665603ull;
    for (unsigned char c : tok) h = (h ^ c) * 1099511628211ull;
  }
  h ^= h >> 33;  // a 64-bit finaliser spreads the low bits used for the slot index
  h *= 0xff51afd7ed558ccdull;
  h ^= h >> 33;
  return static_cast<uint32_t>(h);
}

}  // namespace

size_t Vocab::find(std::string_view tok, uint64_t key, uint32_t hash) const {
  const size_t mask = slots_.size() - 1;
  for (size_t i = hash & mask;; i = (i + 1) & mask) {
    const Slot& s = slots_[i];
    if (s.id == 0) return i;
    if (s.hash == hash && keys_[static_cast<size_t>(s.id)] == key && (key != kLongKey || token(s.id) == tok))
      return i;
  }
}

namespace {

/// reserve(), with huge-page advice for a block large enough to be mapped on its own (see
/// Memory.h): a table of millions of slots is then probed without a TLB miss per lookup.
template <class V>
void reserveLarge(V& v, size_t n) {
  if (n <= v.capacity()) return;
  v.reserve(n);
  adviseHugePages(v.data(), v.capacity() * sizeof(v[0]));
}

}  // namespace

void Vocab::rehash(size_t slots) {
  std::vector<Slot> old = std::move(slots_);
  slots_.clear();
  reserveLarge(slots_, slots);
  slots_.assign(slots, Slot{});
  const size_t mask = slots - 1;
  for (const Slot& s : old) {
    if (s.id == 0) continue;
    size_t i = s.hash & mask;
    while (slots_[i].id != 0) i = (i + 1) & mask;
    slots_[i] = s;
  }
}

void Vocab::reserve(size_t more) {
  const size_t n = keys_.size() + more;
  reserveLarge(keys_, n);
  reserveLarge(offsets_, n + 1);
  reserveLarge(text_, text_.size() + 8 * more);
  size_t slots = 64;
  while (3 * slots < 4 * n) slots *= 2;
  if (slots > slots_.size()) rehash(slots);
}

void Vocab::prefetch(std::string_view tok) const {
  // A small index stays in cache; hashing each token twice would then cost more than it saves.
  constexpr size_t kCachedSlots = size_t{1} << 17;
  if (slots_.size() > kCachedSlots) __builtin_prefetch(&slots_[tokenHash(tok, tokenKey(tok)) & (slots_.size() - 1)]);
}

// The reserved tokens are not indexed: a data token spelled "<oov>" is an ordinary token.
int32_t Vocab::add(std::string_view tok) {
  if (4 * (keys_.size() + 1) > 3 * slots_.size()) rehash(slots_.empty() ? 64 : 2 * slots_.size());
  const uint64_t key = tokenKey(tok);
  const uint32_t h = tokenHash(tok, key);
  Slot& s = slots_[find(tok, key, h)];
  if (s.id != 0) return s.id;
  s.hash = h;
  s.id = static_cast<int32_t>(keys_.size());
  keys_.push_back(key);
  text_.append(tok);
  offsets_.push_back(text_.size());
  return s.id;
}

int32_t Vocab::lookup(std::string_view tok) const {
  if (slots_.empty()) return 1;
  const uint64_t key = tokenKey(tok);
  const Slot& s = slots_[find(tok, key, tokenHash(tok, key))];
  return s.id == 0 ? 1 : s.id;
}

std::map<std::string, int64_t> vocabSizes(const Vocabularies& v) {
  std::map<std::string, int64_t> out;
  for (const auto& [name, voc] : v) out[name] = voc.size();
  return out;
}

namespace {

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

/// Context for error messages: "<file>: row 12, column 'x': ".
struct Where {
  const CsvTable& csv;
  const std::string& column;
  static int64_t fileRow(int64_t r) { return r + 2; }  // data row r; the header is row 1
  std::string at(int64_t r) const {
    return csv.path + ": row " + std::to_string(fileRow(r)) + ", column '" + column + "': ";
  }
};

bool parseFloat(std::string_view s, float& out) {
  s = trim(s);
  if (!s.empty() && s.front() == '+') s.remove_prefix(1);  // from_chars rejects a leading '+'
  if (s.empty()) return false;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), out);
  return ec == std::errc() && p == s.data() + s.size() && std::isfinite(out);
}

/// After this many rows of an id column, a vocabulary that grew by more than half of them is
/// sized for the rest of the column at once (see distinctEstimate).
constexpr int64_t kSampleRows = int64_t{1} << 16;

}  // namespace

// HyperLogLog (Flajolet et al., 2007) with 4096 registers over the cells' hashes. One pass of
// hashing lets a column of millions of distinct ids size its vocabulary once, instead of
// rehashing the index and moving the token buffers at every doubling, which took most of the
// time of reading such a file.
size_t distinctEstimate(CsvTable::Column cells, int64_t from) {
  constexpr int kBits = 12;
  constexpr size_t kRegisters = size_t{1} << kBits;
  std::vector<uint8_t> reg(kRegisters, 0);
  for (int64_t r = from; r < cells.size(); ++r) {
    const std::string_view tok = cells[r];
    const uint32_t h = tokenHash(tok, tokenKey(tok));
    const uint32_t rest = h << kBits;  // the bits not used for the register index
    const auto rank = static_cast<uint8_t>(rest == 0 ? 32 - kBits + 1 : __builtin_clz(rest) + 1);
    uint8_t& m = reg[h >> (32 - kBits)];
    m = std::max(m, rank);
  }
  double sum = 0;
  size_t zeros = 0;
  for (uint8_t m : reg) {
    sum += std::ldexp(1.0, -m);
    zeros += m == 0;
  }
  const double m = kRegisters;
  double e = 0.7213 / (1 + 1.079 / m) * m * m / sum;
  if (e <= 2.5 * m && zeros > 0) e = m * std::log(m / static_cast<double>(zeros));  // small counts
  return static_cast<size_t>(e);
}

namespace {

class Encoder {
 public:
  Encoder(bool grow, Dataset& d) : grow_(grow), d_(d) {}

  int32_t token(Vocab& v, std::string_view tok) {
    if (grow_) return v.add(tok);
    int32_t id = v.lookup(tok);
    if (id == 1) ++d_.oovCount;
    return id;
  }

  void id(CsvTable::Column cells, Vocab& v, Column& out) {
    out.dtype = DType::I32;
    const size_t rows = static_cast<size_t>(cells.size());
    out.ids.resize(rows);
    const int64_t before = v.size();
    constexpr int64_t kAhead = 16;  // rows between a prefetch and its use
    for (int64_t r = 0; r < cells.size(); ++r) {
      if (r == kSampleRows && grow_ && v.size() - before > kSampleRows / 2)
        v.reserve(distinctEstimate(cells, r));  // mostly new ids so far: size for the rest
      if (r + kAhead < cells.size()) v.prefetch(cells[r + kAhead]);
      std::string_view cell = cells[r];
      if (cell.empty()) {  // a missing id is unknown, not padding (see Dataset.h)
        out.ids[static_cast<size_t>(r)] = 1;
        ++d_.oovCount;
      } else {
        out.ids[static_cast<size_t>(r)] = token(v, cell);
      }
    }
  }

  /// Counts data row r as one more truncated cell of `t`'s column.
  static void noteCut(Truncation& t, size_t r) {
    if (t.cells++ == 0) t.firstRow = Where::fileRow(static_cast<int64_t>(r));
  }
  void keep(const Truncation& t) {
    if (t.cells) d_.truncations.push_back(t);
  }

  void ids(CsvTable::Column cells, const Where& w, Vocab& v, int64_t len, Column& out) {
    Truncation cut{w.column, len};
    out.dtype = DType::I32;
    out.width = len;
    const size_t rows = static_cast<size_t>(cells.size());
    out.ids.assign(rows * static_cast<size_t>(len), 0);
    for (size_t r = 0; r < rows; ++r) {
      std::string_view cell = cells[static_cast<int64_t>(r)];
      int32_t* row = out.ids.data() + r * static_cast<size_t>(len);
      int64_t k = 0;
      while (!cell.empty()) {
        size_t bar = cell.find('|');
        std::string_view part = cell.substr(0, bar);
        cell = bar == std::string_view::npos ? std::string_view() : cell.substr(bar + 1);
        if (part.empty()) continue;  // "a||b": empty tokens carry nothing
        if (k == len) {  // more values than declared: drop the rest
          noteCut(cut, r);
          break;
        }
        row[k++] = token(v, part);
      }
    }
    keep(cut);
  }

  void dense(CsvTable::Column cells, const Where& w, int64_t width, Column& out) {
    Truncation cut{w.column, width};
    out.dtype = DType::F32;
    out.width = width;
    const size_t rows = static_cast<size_t>(cells.size());
    out.values.resize(rows * static_cast<size_t>(width));
    for (size_t r = 0; r < rows; ++r) {
      std::string_view cell = cells[static_cast<int64_t>(r)];
      float* row = out.values.data() + r * static_cast<size_t>(width);
      if (width == 1) {
        if (!parseFloat(cell, row[0]))
          throw DataError(w.at(static_cast<int64_t>(r)) + "'" + std::string(cell) +
                          "' is not a finite number");
        continue;
      }
      // dense[n]: up to n numbers separated by '|', padded with 0 / truncated like ids[n]
      // (sequence side features such as "1|0|1" vary in length with the history).
      int64_t k = 0;
      while (!cell.empty()) {
        size_t bar = cell.find('|');
        std::string_view part = cell.substr(0, bar);
        cell = bar == std::string_view::npos ? std::string_view() : cell.substr(bar + 1);
        if (k == width) {  // more values than declared: drop the rest
          noteCut(cut, r);
          break;
        }
        if (!parseFloat(part, row[k++]))
          throw DataError(w.at(static_cast<int64_t>(r)) + "'" + std::string(part) +
                          "' is not a finite number");
      }
      for (; k < width; ++k) row[k] = 0.0f;
    }
    keep(cut);
  }

  void label(CsvTable::Column cells, const Where& w, Column& out) {
    out.dtype = DType::F32;
    const size_t rows = static_cast<size_t>(cells.size());
    out.values.resize(rows);
    for (size_t r = 0; r < rows; ++r) {
      std::string_view cell = cells[static_cast<int64_t>(r)];
      float x = 0;
      if (cell.size() == 1 && (cell[0] == '0' || cell[0] == '1')) {  // the common case
        out.values[r] = static_cast<float>(cell[0] - '0');
        continue;
      }
      if (!parseFloat(cell, x) || (x != 0.0f && x != 1.0f))
        throw DataError(w.at(static_cast<int64_t>(r)) + "label '" + std::string(cell) +
                        "' is not 0 or 1");
      out.values[r] = x;
    }
  }

 private:
  bool grow_;
  Dataset& d_;
};

std::string headerList(const CsvTable& csv) {
  std::string s;
  for (size_t i = 0; i < csv.header.size(); ++i) s += (i ? ", " : "") + csv.header[i];
  return s;
}

}  // namespace

int64_t Dataset::truncatedCells() const {
  int64_t n = 0;
  for (const Truncation& t : truncations) n += t.cells;
  return n;
}

std::string truncationWarning(const Dataset& d, const Truncation& t) {
  return d.path + ": " + std::to_string(t.cells) + (t.cells == 1 ? " cell" : " cells") + " of column " + t.column +
         " had more than " + std::to_string(t.length) + " values; extra values were dropped (first at row " +
         std::to_string(t.firstRow) + ")";
}

Dataset encode(const CsvTable& csv, const std::vector<InputDecl>& inputs, Vocabularies& vocabs,
               bool grow, bool needLabels, int threads) {
  if (csv.rows == 0)
    throw DataError(csv.path + ": has no data rows (only a header); nothing to train or score");
  Dataset d;
  d.path = csv.path;
  d.rows = csv.rows;
  d.columns.resize(inputs.size());
  // Inputs sharing a vocabulary are encoded in order by one task (ids are numbered by first
  // appearance); other inputs are independent tasks, run on `threads` threads. Counts and
  // errors are kept per input and merged in input order, so the result and the error reported
  // (the first input's) are those of a sequential pass.
  auto vocabOf = [](const InputDecl& in) -> const std::string* {
    if (in.kind != InputKind::Id && in.kind != InputKind::Ids) return nullptr;
    return in.vocab.empty() ? &in.name : &in.vocab;
  };
  std::vector<std::vector<size_t>> tasks;
  std::map<std::string, size_t> taskOfVocab;
  for (size_t k = 0; k < inputs.size(); ++k) {
    const std::string* vocab = vocabOf(inputs[k]);
    if (!vocab) {
      tasks.push_back({k});
      continue;
    }
    auto [it, fresh] = taskOfVocab.emplace(*vocab, tasks.size());
    if (fresh) tasks.emplace_back();
    tasks[it->second].push_back(k);
  }
  for (const auto& [name, task] : taskOfVocab) (void)vocabs[name];  // no map insertion below
  std::vector<Dataset> counts(inputs.size());  // each input's oovCount and truncations
  std::vector<std::exception_ptr> errors(inputs.size());
  auto encodeInput = [&](size_t k) {
    const InputDecl& in = inputs[k];
    Column& out = d.columns[k];
    const std::string& colName = in.column.empty() ? in.name : in.column;
    int c = csv.column(colName);
    if (c < 0 && in.kind == InputKind::Label && !needLabels) {
      // Scoring a file without labels: the graph still has a label input; feed zeros.
      out.dtype = DType::F32;
      out.values.assign(static_cast<size_t>(csv.rows), 0.0f);
      return;
    }
    if (c < 0) {
      std::string decl;
      if (in.loc.known())
        decl = " [input declared at " + in.loc.file + ":" + std::to_string(in.loc.line) + "]";
      throw DataError(csv.path + ": missing column '" + colName + "' (needed by input " +
                      in.name + "); the header has: " + headerList(csv) + decl);
    }
    CsvTable::Column cells = csv.col(static_cast<size_t>(c));
    Where w{csv, colName};
    Encoder enc(grow, counts[k]);
    const std::string* vocabName = vocabOf(in);
    Vocab* vocab = vocabName ? &vocabs.at(*vocabName) : nullptr;
    switch (in.kind) {
      case InputKind::Id: enc.id(cells, *vocab, out); break;
      case InputKind::Ids:
        if (in.length <= 0)
          throw DataError(csv.path + ": input " + in.name + " has no positive length");
        enc.ids(cells, w, *vocab, in.length, out);
        break;
      case InputKind::Dense: enc.dense(cells, w, in.length > 0 ? in.length : 1, out); break;
      case InputKind::Label: enc.label(cells, w, out); break;
    }
  };
  std::atomic<size_t> next{0};
  auto work = [&] {
    for (size_t t; (t = next++) < tasks.size();)
      for (size_t k : tasks[t]) {
        try {
          encodeInput(k);
        } catch (...) {
          errors[k] = std::current_exception();
          break;  // the task's later inputs would be reported after this one anyway
        }
      }
  };
  std::vector<std::thread> helpers;
  const size_t workers = std::min(tasks.size(), static_cast<size_t>(std::max(threads, 1)));
  for (size_t i = 1; i < workers; ++i) {
    try {
      helpers.emplace_back(work);
    } catch (const std::system_error&) {  // no thread to be had: fewer workers, same result
      break;
    }
  }
  work();
  for (std::thread& h : helpers) h.join();
  for (size_t k = 0; k < inputs.size(); ++k) {
    if (errors[k]) std::rethrow_exception(errors[k]);
    d.oovCount += counts[k].oovCount;
    d.truncations.insert(d.truncations.end(), counts[k].truncations.begin(), counts[k].truncations.end());
  }
  return d;
}

}  // namespace recc
