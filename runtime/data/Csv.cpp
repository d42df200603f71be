// readCsv: an RFC 4180 reader over the whole file held in memory, in one pass (a large file in
// parts on several threads).
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <exception>
#include <string_view>

#include "runtime/data/Dataset.h"
#include "runtime/data/Tasks.h"

namespace recc {

namespace {

/// The whole file as bytes: memory-mapped when it is a regular file (no copy, no zero-fill;
/// page faults dominate reading otherwise), read into a string when it is not (a pipe).
class FileBytes {
 public:
  explicit FileBytes(const std::string& path) {
    int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) throw DataError(path + ": cannot open file: " + std::strerror(errno));
    struct stat st {};
    if (::fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && st.st_size > 0) {
      size_ = static_cast<size_t>(st.st_size);
      void* p = ::mmap(nullptr, size_, PROT_READ, MAP_PRIVATE | MAP_POPULATE, fd, 0);
      if (p != MAP_FAILED) {
        map_ = static_cast<const char*>(p);
        ::close(fd);
        return;
      }
    }
    char chunk[1 << 16];
    for (;;) {
      ssize_t n = ::read(fd, chunk, sizeof chunk);
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) {
        std::string why = std::strerror(errno);
        ::close(fd);
        throw DataError(path + ": cannot read file: " + why);
      }
      if (n == 0) break;
      buf_.append(chunk, static_cast<size_t>(n));
    }
    ::close(fd);
  }
  ~FileBytes() {
    if (map_) ::munmap(const_cast<char*>(map_), size_);
  }
  FileBytes(const FileBytes&) = delete;
  FileBytes& operator=(const FileBytes&) = delete;
  std::string_view view() const { return map_ ? std::string_view(map_, size_) : buf_; }

 private:
  const char* map_ = nullptr;
  size_t size_ = 0;
  std::string buf_;
};

/// Splits the text into records. Record numbers are 1-based (header = 1), like spreadsheet
/// rows: a newline inside a quoted field does not start a new row. A field is reported as an
/// offset and length into the text, or into `arena` when doubled quotes had to be undone.
class Scanner {
 public:
  Scanner(const std::string& path, std::string_view text, std::string& arena)
      : path_(path), s_(text), arena_(arena) {
    for (unsigned char c : {',', '\n', '\r'}) stop_[c] = true;
  }

  int64_t record() const { return record_; }
  size_t position() const { return pos_; }
  /// Continues at byte `pos`, the start of record `record` + 1.
  void seek(size_t pos, int64_t record) {
    pos_ = pos;
    record_ = record;
  }

  /// Calls `sink(index, offset, length, inArena)` for each field of the next record and
  /// returns the field count; 0 at end of input.
  template <class Sink>
  size_t next(Sink&& sink) {
    const size_t n = s_.size();
    if (pos_ >= n) return 0;
    ++record_;
    const char* s = s_.data();
    size_t count = 0;
    for (;;) {
      if (pos_ < n && s[pos_] == '"') {
        quoted(count++, sink);
      } else {
        size_t start = pos_;
        while (pos_ < n && !stop_[static_cast<unsigned char>(s[pos_])]) ++pos_;
        sink(count++, start, pos_ - start, false);
      }
      if (pos_ >= n) return count;
      char c = s[pos_++];
      if (c == ',') continue;
      if (c == '\r' && pos_ < n && s[pos_] == '\n') ++pos_;
      return count;
    }
  }

 private:
  template <class Sink>
  void quoted(size_t index, Sink& sink) {
    const size_t open = pos_++;
    size_t arenaStart = 0;
    bool inArena = false;
    for (;;) {
      size_t q = s_.find('"', pos_);
      if (q == std::string_view::npos)
        throw DataError(path_ + ": row " + std::to_string(record_) +
                        ": unterminated quoted field (a '\"' is never closed)");
      if (q + 1 < s_.size() && s_[q + 1] == '"') {  // doubled quote = one literal quote
        if (!inArena) {
          arenaStart = arena_.size();
          arena_.append(s_.data() + open + 1, pos_ - open - 1);
          inArena = true;
        }
        arena_.append(s_.data() + pos_, q + 1 - pos_);
        pos_ = q + 2;
        continue;
      }
      if (inArena) {
        arena_.append(s_.data() + pos_, q - pos_);
        sink(index, arenaStart, arena_.size() - arenaStart, true);
      } else {
        sink(index, open + 1, q - open - 1, false);
      }
      pos_ = q + 1;
      break;
    }
    if (pos_ < s_.size() && !stop_[static_cast<unsigned char>(s_[pos_])])
      throw DataError(path_ + ": row " + std::to_string(record_) +
                      ": unexpected character after a closing quote (quote the whole field "
                      "and double any quote inside it)");
  }

  const std::string& path_;
  std::string_view s_;
  std::string& arena_;
  size_t pos_ = 0;
  int64_t record_ = 0;
  bool stop_[256] = {};
};

/// `n` uninitialised words for the cell references. A large block is mapped directly and
/// asked for huge pages: filling it is then not dominated by one page fault per 4 KiB.
std::shared_ptr<uint64_t[]> cellBlock(size_t n) {
  const size_t bytes = n * sizeof(uint64_t);
  if (bytes >= (size_t{4} << 20)) {
    void* p = ::mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p != MAP_FAILED) {
      ::madvise(p, bytes, MADV_HUGEPAGE);  // advice only: failure is harmless
      return std::shared_ptr<uint64_t[]>(static_cast<uint64_t*>(p),
                                         [bytes](uint64_t* q) { ::munmap(q, bytes); });
    }
  }
  return std::shared_ptr<uint64_t[]>(new uint64_t[n]);
}

/// Scans the records after the scanner's position into rows firstRow, firstRow + 1, ... of the
/// column-major cell block (`stride` rows per column); returns how many there were.
size_t scanRows(Scanner& sc, const std::string& path, uint64_t* cells, size_t stride, size_t ncols,
                size_t firstRow) {
  size_t row = firstRow;
  bool tooLong = false;
  auto sink = [&](size_t i, size_t off, size_t len, bool inArena) {
    if (i >= ncols) return;
    tooLong |= len > CsvTable::kLenMask;
    cells[i * stride + row] =
        (uint64_t{off} << CsvTable::kLenBits | len) | (inArena ? CsvTable::kArenaBit : 0);
  };
  while (size_t count = sc.next(sink)) {
    if (count != ncols)
      throw DataError(path + ": row " + std::to_string(sc.record()) + ": expected " +
                      std::to_string(ncols) + " fields, found " + std::to_string(count));
    if (tooLong)
      throw DataError(path + ": row " + std::to_string(sc.record()) +
                      ": a field is longer than 16 MiB");
    ++row;
  }
  return row - firstRow;
}

/// Bytes [begin, end) of the file, taken to start at data row firstRow and to hold `lineEnds`
/// records, each ended by a '\n' (plus one unterminated record at the end of the file).
struct Part {
  size_t begin, end, firstRow, lineEnds;
  size_t rows = 0;
  std::string arena;  // its own: the parts are scanned at the same time
  std::exception_ptr error;
  bool holds(size_t fileSize) const { return !error && rows == lineEnds + (end == fileSize); }
};

/// The body (the records after the header, from byte `body`) cut after line ends into up to
/// `threads` parts of at least 4 MiB; none (the caller scans it in one pass) when that would be
/// one part, or when the body holds a CR, which may end a record alone.
std::vector<Part> splitBody(std::string_view text, size_t body, int threads) {
  constexpr size_t kMinPart = size_t{4} << 20;
  const size_t bytes = text.size() - body;
  const size_t n = std::min(static_cast<size_t>(std::max(threads, 1)), bytes / kMinPart);
  std::vector<Part> parts;
  if (n <= 1 || std::memchr(text.data() + body, '\r', bytes)) return parts;
  size_t begin = body, row = 0;
  for (size_t p = 1; p <= n && begin < text.size(); ++p) {
    size_t end = text.size();
    if (p < n) {
      const size_t want = std::max(begin, body + bytes / n * p);
      const void* nl = std::memchr(text.data() + want, '\n', text.size() - want);
      if (nl) end = static_cast<size_t>(static_cast<const char*>(nl) - text.data()) + 1;
    }
    const auto lineEnds = static_cast<size_t>(std::count(text.data() + begin, text.data() + end, '\n'));
    parts.push_back({begin, end, row, lineEnds, 0, {}, nullptr});
    row += lineEnds;
    begin = end;
  }
  return parts;
}

/// Scans the parts on their own threads. A line end is a record's end only outside quotes, which
/// only a scan from the start can tell; so a part that fails (its last field cut by the part's
/// end: an unterminated quote) or holds other than one record per line end (a newline in a
/// quoted field) makes the result unusable, and false is returned: the caller scans the body
/// in one pass instead, which gives the same table, or the same first error. On success the
/// parts' arenas are appended to `arena` and the row count is returned in `rows`.
bool scanParts(std::vector<Part>& parts, const std::string& path, std::string_view text, std::string& arena,
               uint64_t* cells, size_t stride, size_t ncols, int64_t& rows) {
  runTasks(parts.size(), static_cast<int>(parts.size()), [&](size_t p) {
    Part& part = parts[p];
    Scanner sc(path, text.substr(0, part.end), part.arena);
    sc.seek(part.begin, static_cast<int64_t>(part.firstRow) + 1);
    try {
      part.rows = scanRows(sc, path, cells, stride, ncols, part.firstRow);
    } catch (...) {
      part.error = std::current_exception();
    }
  });
  for (const Part& part : parts)
    if (!part.holds(text.size())) return false;
  // The parts' arenas, one after the other: their cells' offsets move by what precedes them.
  for (Part& part : parts) {
    if (part.arena.empty()) continue;
    const uint64_t shift = uint64_t{arena.size()} << CsvTable::kLenBits;
    arena += part.arena;
    for (size_t c = 0; c < ncols; ++c)
      for (size_t r = part.firstRow; r < part.firstRow + part.rows; ++r)
        if (cells[c * stride + r] & CsvTable::kArenaBit) cells[c * stride + r] += shift;
  }
  rows = static_cast<int64_t>(parts.back().firstRow + parts.back().rows);
  return true;
}

}  // namespace

int CsvTable::column(const std::string& name) const {
  for (size_t i = 0; i < header.size(); ++i)
    if (header[i] == name) return static_cast<int>(i);
  return -1;
}

CsvTable readCsv(const std::string& path, int threads) {
  auto file = std::make_shared<FileBytes>(path);
  std::string_view text = file->view();
  if (text.size() >= 3 && std::memcmp(text.data(), "\xEF\xBB\xBF", 3) == 0) text.remove_prefix(3);
  // Trailing blank lines are ignored; a blank line in the middle is a (ragged) row.
  while (!text.empty() && (text.back() == '\n' || text.back() == '\r')) text.remove_suffix(1);
  if (text.empty()) throw DataError(path + ": file is empty (expected a header row)");
  if (text.size() >= (uint64_t{1} << (63 - CsvTable::kLenBits)))
    throw DataError(path + ": file is too large");

  CsvTable t;
  t.path = path;
  t.text_ = text.data();
  Scanner sc(path, text, t.arena_);
  sc.next([&](size_t, size_t off, size_t len, bool inArena) {
    t.header.emplace_back(inArena ? t.arena_.data() + off : text.data() + off, len);
  });
  for (size_t i = 0; i < t.header.size(); ++i)
    for (size_t j = 0; j < i; ++j)
      if (t.header[i] == t.header[j])
        throw DataError(path + ": duplicate column '" + t.header[i] + "' in the header");

  // Data records are at most the line count (line ends: LF, CRLF and a lone CR, as in Scanner;
  // the last record has none), so one column-major block of that many rows per column holds
  // every cell (pages past the last row are never touched).
  size_t lines = static_cast<size_t>(std::count(text.begin(), text.end(), '\n'));
  if (std::memchr(text.data(), '\r', text.size()))  // rare: count the lone CRs too
    for (size_t i = 0; i < text.size(); ++i)
      lines += text[i] == '\r' && (i + 1 == text.size() || text[i + 1] != '\n');
  const size_t ncols = t.header.size();
  t.stride_ = lines;
  t.cells_ = cellBlock(ncols * lines);  // uninitialised: only rows < t.rows are read
  std::vector<Part> parts = splitBody(text, sc.position(), threads);
  if (parts.empty() || !scanParts(parts, path, text, t.arena_, t.cells_.get(), lines, ncols, t.rows))
    t.rows = static_cast<int64_t>(scanRows(sc, path, t.cells_.get(), lines, ncols, 0));
  t.storage_ = std::move(file);
  return t;
}

}  // namespace recc
