// readCsv: a single-pass RFC 4180 reader over the whole file held in memory.
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <string_view>

#include "runtime/data/Dataset.h"

namespace recc {

namespace {

std::string slurp(const std::string& path) {
  std::FILE* f = std::fopen(path.c_str(), "rb");
  if (!f) throw DataError(path + ": cannot open file: " + std::strerror(errno));
  std::string buf;
  // One read of the whole file: the scan below then runs on a flat buffer with no I/O calls.
  if (std::fseek(f, 0, SEEK_END) == 0) {
    long size = std::ftell(f);
    if (size > 0) buf.resize(static_cast<size_t>(size));
    std::rewind(f);
  }
  size_t got = buf.empty() ? 0 : std::fread(buf.data(), 1, buf.size(), f);
  buf.resize(got);
  // Not seekable (a pipe) or grown since ftell: read the rest in chunks.
  char chunk[1 << 16];
  size_t n;
  while ((n = std::fread(chunk, 1, sizeof chunk, f)) > 0) buf.append(chunk, n);
  bool bad = std::ferror(f) != 0;
  std::fclose(f);
  if (bad) throw DataError(path + ": cannot read file");
  return buf;
}

/// Splits the text into records. Record numbers are 1-based (header = 1), like spreadsheet
/// rows: a newline inside a quoted field does not start a new row.
class Scanner {
 public:
  Scanner(const std::string& path, std::string_view text) : path_(path), s_(text) {}

  bool done() const { return pos_ >= s_.size(); }
  int64_t record() const { return record_; }

  /// Reads one record into `fields` (reusing its strings); returns false at end of input.
  bool next(std::vector<std::string>& fields, size_t& count) {
    count = 0;
    if (done()) return false;
    ++record_;
    for (;;) {
      if (count == fields.size()) fields.emplace_back();
      std::string& f = fields[count++];
      f.clear();
      if (pos_ < s_.size() && s_[pos_] == '"') {
        quoted(f);
      } else {
        size_t start = pos_;
        while (pos_ < s_.size()) {
          char c = s_[pos_];
          if (c == ',' || c == '\n' || c == '\r') break;
          ++pos_;
        }
        f.assign(s_.data() + start, pos_ - start);
      }
      if (pos_ >= s_.size()) return true;
      char c = s_[pos_++];
      if (c == ',') continue;
      if (c == '\r' && pos_ < s_.size() && s_[pos_] == '\n') ++pos_;
      return true;
    }
  }

 private:
  void quoted(std::string& f) {
    int64_t opened = record_;
    ++pos_;  // opening quote
    for (;;) {
      size_t q = s_.find('"', pos_);
      if (q == std::string_view::npos)
        throw DataError(path_ + ": row " + std::to_string(opened) +
                        ": unterminated quoted field (a '\"' is never closed)");
      f.append(s_.data() + pos_, q - pos_);
      pos_ = q + 1;
      if (pos_ < s_.size() && s_[pos_] == '"') {  // doubled quote = one literal quote
        f.push_back('"');
        ++pos_;
        continue;
      }
      break;
    }
    if (pos_ < s_.size() && s_[pos_] != ',' && s_[pos_] != '\n' && s_[pos_] != '\r')
      throw DataError(path_ + ": row " + std::to_string(record_) +
                      ": unexpected character after a closing quote (quote the whole field "
                      "and double any quote inside it)");
  }

  const std::string& path_;
  std::string_view s_;
  size_t pos_ = 0;
  int64_t record_ = 0;
};

}  // namespace

int CsvTable::column(const std::string& name) const {
  for (size_t i = 0; i < header.size(); ++i)
    if (header[i] == name) return static_cast<int>(i);
  return -1;
}

CsvTable readCsv(const std::string& path) {
  std::string buf = slurp(path);
  std::string_view text(buf);
  if (text.size() >= 3 && std::memcmp(text.data(), "\xEF\xBB\xBF", 3) == 0) text.remove_prefix(3);
  // Trailing blank lines are ignored; a blank line in the middle is a (ragged) row.
  while (!text.empty() && (text.back() == '\n' || text.back() == '\r')) text.remove_suffix(1);
  if (text.empty()) throw DataError(path + ": file is empty (expected a header row)");

  CsvTable t;
  t.path = path;
  Scanner sc(path, text);
  std::vector<std::string> fields;
  size_t count = 0;
  sc.next(fields, count);
  t.header.assign(fields.begin(), fields.begin() + static_cast<std::ptrdiff_t>(count));
  for (size_t i = 0; i < t.header.size(); ++i)
    for (size_t j = 0; j < i; ++j)
      if (t.header[i] == t.header[j])
        throw DataError(path + ": duplicate column '" + t.header[i] + "' in the header");

  // Reserve by line count so that the column vectors do not reallocate while filling.
  size_t lines = 1;
  for (char c : text) lines += c == '\n';
  const size_t ncols = t.header.size();
  t.columns.resize(ncols);
  for (auto& col : t.columns) col.reserve(lines);

  while (sc.next(fields, count)) {
    if (count != ncols)
      throw DataError(path + ": row " + std::to_string(sc.record()) + ": expected " +
                      std::to_string(ncols) + " fields, found " + std::to_string(count));
    for (size_t c = 0; c < ncols; ++c) t.columns[c].push_back(std::move(fields[c]));
    ++t.rows;
  }
  return t;
}

}  // namespace recc
