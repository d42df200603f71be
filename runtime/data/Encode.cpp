// encode(): CSV cells -> id / float columns per declared input, growing the vocabularies.
#include <charconv>
#include <cmath>
#include <string_view>

#include "runtime/data/Dataset.h"

namespace recc {

Vocab::Vocab() : tokens{"<pad>", "<oov>"} {}

// The reserved tokens are not in `index`: a data token spelled "<oov>" is an ordinary token.
int32_t Vocab::add(const std::string& tok) {
  auto it = index.find(tok);
  if (it != index.end()) return it->second;
  int32_t id = static_cast<int32_t>(tokens.size());
  tokens.push_back(tok);
  index.emplace(tok, id);
  return id;
}

int32_t Vocab::lookup(const std::string& tok) const {
  auto it = index.find(tok);
  return it == index.end() ? 1 : it->second;
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
  std::string at(int64_t r) const {
    return csv.path + ": row " + std::to_string(r + 2) + ", column '" + column + "': ";
  }
};

bool parseFloat(std::string_view s, float& out) {
  s = trim(s);
  if (!s.empty() && s.front() == '+') s.remove_prefix(1);  // from_chars rejects a leading '+'
  if (s.empty()) return false;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), out);
  return ec == std::errc() && p == s.data() + s.size() && std::isfinite(out);
}

class Encoder {
 public:
  Encoder(bool grow, Dataset& d) : grow_(grow), d_(d) {}

  int32_t token(Vocab& v, const std::string& tok) {
    if (grow_) return v.add(tok);
    int32_t id = v.lookup(tok);
    if (id == 1) ++d_.oovCount;
    return id;
  }

  void id(const std::vector<std::string>& cells, Vocab& v, Column& out) {
    out.dtype = DType::I32;
    out.ids.resize(cells.size());
    for (size_t r = 0; r < cells.size(); ++r) {
      if (cells[r].empty()) {  // a missing id is unknown, not padding (see Dataset.h)
        out.ids[r] = 1;
        ++d_.oovCount;
      } else {
        out.ids[r] = token(v, cells[r]);
      }
    }
  }

  void ids(const std::vector<std::string>& cells, Vocab& v, int64_t len, Column& out) {
    out.dtype = DType::I32;
    out.width = len;
    out.ids.assign(cells.size() * static_cast<size_t>(len), 0);
    std::string tok;
    for (size_t r = 0; r < cells.size(); ++r) {
      std::string_view cell = cells[r];
      int32_t* row = out.ids.data() + r * static_cast<size_t>(len);
      int64_t k = 0;
      bool truncated = false;
      while (!cell.empty()) {
        size_t bar = cell.find('|');
        std::string_view part = cell.substr(0, bar);
        cell = bar == std::string_view::npos ? std::string_view() : cell.substr(bar + 1);
        if (part.empty()) continue;  // "a||b": empty tokens carry nothing
        if (k == len) {
          truncated = true;
          break;
        }
        tok.assign(part.data(), part.size());
        row[k++] = token(v, tok);
      }
      d_.truncatedCells += truncated;
    }
  }

  void dense(const std::vector<std::string>& cells, const Where& w, int64_t width, Column& out) {
    out.dtype = DType::F32;
    out.width = width;
    out.values.resize(cells.size() * static_cast<size_t>(width));
    for (size_t r = 0; r < cells.size(); ++r) {
      std::string_view cell = cells[r];
      float* row = out.values.data() + r * static_cast<size_t>(width);
      if (width == 1) {
        if (!parseFloat(cell, row[0]))
          throw DataError(w.at(static_cast<int64_t>(r)) + "'" + cells[r] +
                          "' is not a finite number");
        continue;
      }
      // dense[n]: n numbers separated by '|'.
      int64_t k = 0;
      for (;;) {
        size_t bar = cell.find('|');
        std::string_view part = cell.substr(0, bar);
        if (k < width && !parseFloat(part, row[k]))
          throw DataError(w.at(static_cast<int64_t>(r)) + "'" + std::string(part) +
                          "' is not a finite number");
        ++k;
        if (bar == std::string_view::npos) break;
        cell = cell.substr(bar + 1);
      }
      if (k != width)
        throw DataError(w.at(static_cast<int64_t>(r)) + "expected " + std::to_string(width) +
                        " numbers separated by '|', found " + std::to_string(k));
    }
  }

  void label(const std::vector<std::string>& cells, const Where& w, Column& out) {
    out.dtype = DType::F32;
    out.values.resize(cells.size());
    for (size_t r = 0; r < cells.size(); ++r) {
      float x = 0;
      if (!parseFloat(cells[r], x) || (x != 0.0f && x != 1.0f))
        throw DataError(w.at(static_cast<int64_t>(r)) + "label '" + cells[r] +
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

Dataset encode(const CsvTable& csv, const std::vector<InputDecl>& inputs, Vocabularies& vocabs,
               bool grow, bool needLabels) {
  if (csv.rows == 0)
    throw DataError(csv.path + ": has no data rows (only a header); nothing to train or score");
  Dataset d;
  d.path = csv.path;
  d.rows = csv.rows;
  d.columns.resize(inputs.size());
  Encoder enc(grow, d);
  for (size_t k = 0; k < inputs.size(); ++k) {
    const InputDecl& in = inputs[k];
    Column& out = d.columns[k];
    const std::string& colName = in.column.empty() ? in.name : in.column;
    int c = csv.column(colName);
    if (c < 0 && in.kind == InputKind::Label && !needLabels) {
      // Scoring a file without labels: the graph still has a label input; feed zeros.
      out.dtype = DType::F32;
      out.values.assign(static_cast<size_t>(csv.rows), 0.0f);
      continue;
    }
    if (c < 0) {
      std::string decl;
      if (in.loc.known())
        decl = " [input declared at " + in.loc.file + ":" + std::to_string(in.loc.line) + "]";
      throw DataError(csv.path + ": missing column '" + colName + "' (needed by input " +
                      in.name + "); the header has: " + headerList(csv) + decl);
    }
    const auto& cells = csv.columns[static_cast<size_t>(c)];
    Where w{csv, colName};
    const std::string& vname = in.vocab.empty() ? in.name : in.vocab;
    switch (in.kind) {
      case InputKind::Id: enc.id(cells, vocabs[vname], out); break;
      case InputKind::Ids:
        if (in.length <= 0)
          throw DataError(csv.path + ": input " + in.name + " has no positive length");
        enc.ids(cells, vocabs[vname], in.length, out);
        break;
      case InputKind::Dense: enc.dense(cells, w, in.length > 0 ? in.length : 1, out); break;
      case InputKind::Label: enc.label(cells, w, out); break;
    }
  }
  return d;
}

}  // namespace recc
