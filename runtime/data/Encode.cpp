// encode(): CSV cells -> id / float columns per declared input, growing the vocabularies.
#include <algorithm>
#include <charconv>
#include <cmath>
#include <exception>
#include <string_view>

#include "runtime/data/Dataset.h"
#include "runtime/data/Tasks.h"
#include "runtime/kernels/Memory.h"

namespace recc {

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
    out.ids = zeroed<int32_t>(static_cast<size_t>(cells.size()));
    const int64_t head = std::min(cells.size(), kSampleRows), before = v.size();
    d_.oovCount += v.encode(cells, 0, head, grow_, out.ids.data());
    if (grow_ && head < cells.size() && v.size() - before > kSampleRows / 2) {
      // Mostly new ids so far: size for the rest, with a margin over the estimate's error (a
      // vocabulary that outgrows its buffers copies them).
      const size_t rest = distinctEstimate(cells, head);
      v.reserve(rest + rest / 16);
    }
    d_.oovCount += v.encode(cells, head, cells.size(), grow_, out.ids.data());
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
    out.ids = zeroed<int32_t>(rows * static_cast<size_t>(len));
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
    out.values = zeroed<float>(rows * static_cast<size_t>(width));
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
    out.values = zeroed<float>(rows);
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
      out.values = zeroed<float>(static_cast<size_t>(csv.rows));
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
  runTasks(tasks.size(), threads, [&](size_t t) {
    for (size_t k : tasks[t]) {
      try {
        encodeInput(k);
      } catch (...) {
        errors[k] = std::current_exception();
        break;  // the task's later inputs would be reported after this one anyway
      }
    }
  });
  for (size_t k = 0; k < inputs.size(); ++k) {
    if (errors[k]) std::rethrow_exception(errors[k]);
    d.oovCount += counts[k].oovCount;
    d.truncations.insert(d.truncations.end(), counts[k].truncations.begin(), counts[k].truncations.end());
  }
  return d;
}

}  // namespace recc
