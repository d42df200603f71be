// Checkpoint serialisation: an explicit little-endian byte format, FNV-1a checksum, atomic save.
#include "runtime/data/Checkpoint.h"

#include <fcntl.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <string_view>

namespace recc {

namespace {

constexpr char kMagic[8] = {'R', 'E', 'C', 'C', 'K', 'P', 'T', '\0'};
constexpr uint32_t kVersion = 1;
constexpr size_t kHeaderBytes = sizeof kMagic + 4 + 8;  // magic, version, payload length
constexpr size_t kTrailerBytes = 8;                     // checksum

std::atomic<int64_t> gWriteFault{-1};

uint64_t fnv1a64(const char* p, size_t n) {
  uint64_t h = 1469598103934665603ull;
  for (size_t i = 0; i < n; ++i) {
    h ^= static_cast<unsigned char>(p[i]);
    h *= 1099511628211ull;
  }
  return h;
}

/// Byte-by-byte little-endian encoding, so the file is the same on any host.
class Writer {
 public:
  std::string buf;
  void u32(uint32_t x) {
    for (int i = 0; i < 4; ++i) buf.push_back(static_cast<char>((x >> (8 * i)) & 0xff));
  }
  void u64(uint64_t x) {
    for (int i = 0; i < 8; ++i) buf.push_back(static_cast<char>((x >> (8 * i)) & 0xff));
  }
  void i64(int64_t x) { u64(static_cast<uint64_t>(x)); }
  void str(std::string_view s) {
    u64(s.size());
    buf += s;
  }
  void floats(const std::vector<float>& v) {
    u64(v.size());
    size_t at = buf.size();
    buf.resize(at + 4 * v.size());
    for (float f : v) {
      uint32_t bits;
      std::memcpy(&bits, &f, 4);
      for (int i = 0; i < 4; ++i) buf[at++] = static_cast<char>((bits >> (8 * i)) & 0xff);
    }
  }
};

/// Bounds-checked reader over the verified payload; a structural surprise means the file
/// was written by something else (the checksum already matched).
class Reader {
 public:
  Reader(const std::string& path, const char* p, size_t n) : path_(path), p_(p), n_(n) {}
  uint64_t u64() {
    need(8);
    uint64_t x = 0;
    for (int i = 0; i < 8; ++i) x |= static_cast<uint64_t>(static_cast<unsigned char>(p_[at_ + i])) << (8 * i);
    at_ += 8;
    return x;
  }
  uint32_t u32() {
    need(4);
    uint32_t x = 0;
    for (int i = 0; i < 4; ++i) x |= static_cast<uint32_t>(static_cast<unsigned char>(p_[at_ + i])) << (8 * i);
    at_ += 4;
    return x;
  }
  int64_t i64() { return static_cast<int64_t>(u64()); }
  /// A count of items each taking at least `minBytes`: rejects absurd counts before allocating.
  size_t count(size_t minBytes) {
    uint64_t c = u64();
    if (c > (n_ - at_) / (minBytes ? minBytes : 1)) bad("a count exceeds the file size");
    return static_cast<size_t>(c);
  }
  std::string str() {
    size_t len = count(1);
    std::string s(p_ + at_, len);
    at_ += len;
    return s;
  }
  std::vector<float> floats() {
    size_t len = count(4);
    std::vector<float> v(len);
    for (size_t k = 0; k < len; ++k) {
      uint32_t bits = u32();
      std::memcpy(&v[k], &bits, 4);
    }
    return v;
  }
  bool atEnd() const { return at_ == n_; }
  [[noreturn]] void bad(const std::string& what) const {
    throw DataError(path_ + ": checkpoint is malformed (" + what +
                    "); it was not written by this version of recc — retrain the model");
  }

 private:
  void need(size_t k) {
    if (n_ - at_ < k) bad("payload ends early");
  }
  const std::string& path_;
  const char* p_;
  size_t n_;
  size_t at_ = 0;
};

std::string payload(const Checkpoint& c) {
  Writer w;
  w.str(c.modelPath);
  w.str(c.modelName);
  w.u64(c.sourceHash);
  w.u64(c.overrides.size());
  for (const auto& [k, v] : c.overrides) {
    w.str(k);
    w.str(v);
  }
  w.u64(c.paramNames.size());
  for (const auto& n : c.paramNames) w.str(n);
  w.u64(c.paramShapes.size());
  for (const auto& s : c.paramShapes) {
    w.u64(s.size());
    for (int64_t d : s) w.i64(d);
  }
  for (const auto* group : {&c.params, &c.m, &c.v}) {
    w.u64(group->size());
    for (const auto& t : *group) w.floats(t);
  }
  w.u32(static_cast<uint32_t>(c.optKind));
  w.i64(c.step);
  w.i64(c.epoch);
  w.u64(c.vocabs.size());
  for (const auto& [name, voc] : c.vocabs) {
    w.str(name);
    w.u64(static_cast<uint64_t>(voc.size()));
    for (int64_t t = 0; t < voc.size(); ++t) w.str(voc.token(t));
  }
  return std::move(w.buf);
}

Checkpoint parsePayload(const std::string& path, const char* p, size_t n) {
  Reader r(path, p, n);
  Checkpoint c;
  c.modelPath = r.str();
  c.modelName = r.str();
  c.sourceHash = r.u64();
  c.overrides.resize(r.count(16));
  for (auto& [k, v] : c.overrides) {
    k = r.str();
    v = r.str();
  }
  c.paramNames.resize(r.count(8));
  for (auto& name : c.paramNames) name = r.str();
  c.paramShapes.resize(r.count(8));
  for (auto& s : c.paramShapes) {
    s.resize(r.count(8));
    for (auto& d : s) d = r.i64();
  }
  for (auto* group : {&c.params, &c.m, &c.v}) {
    group->resize(r.count(8));
    for (auto& t : *group) t = r.floats();
  }
  c.optKind = static_cast<int32_t>(r.u32());
  c.step = r.i64();
  c.epoch = r.i64();
  size_t nv = r.count(16);
  for (size_t i = 0; i < nv; ++i) {
    std::string name = r.str();
    Vocab voc;
    size_t nt = r.count(8);
    if (nt < 2 || r.str() != voc.token(0) || r.str() != voc.token(1))
      r.bad("vocabulary '" + name + "' lacks <pad>/<oov>");
    voc.reserve(nt - 2);
    for (size_t t = 2; t < nt; ++t)
      if (voc.add(r.str()) != static_cast<int32_t>(t)) r.bad("vocabulary '" + name + "' lists a token twice");
    c.vocabs[name] = std::move(voc);
  }
  if (!r.atEnd()) r.bad("extra bytes after the last field");
  // Cross-field consistency: every parameter has a name, a shape and that many floats.
  const size_t np = c.paramNames.size();
  if (c.paramShapes.size() != np || c.params.size() != np) r.bad("parameter lists disagree");
  if ((!c.m.empty() && c.m.size() != np) || (!c.v.empty() && c.v.size() != np))
    r.bad("optimizer state does not match the parameters");
  for (size_t i = 0; i < np; ++i) {
    uint64_t elems = 1;
    for (int64_t d : c.paramShapes[i]) elems *= static_cast<uint64_t>(d);
    if (elems != c.params[i].size()) r.bad("parameter " + c.paramNames[i] + " has the wrong size");
    for (const auto* group : {&c.m, &c.v})
      if (!group->empty() && !(*group)[i].empty() && (*group)[i].size() != elems)
        r.bad("optimizer state of " + c.paramNames[i] + " has the wrong size");
  }
  return c;
}

std::string errnoText() { return std::strerror(errno); }

/// Writes all of `data` to fd, honouring the test fault; false on error (errno set).
bool writeAll(int fd, const std::string& data) {
  size_t limit = data.size();
  int64_t fault = gWriteFault.load();
  bool inject = fault >= 0 && static_cast<uint64_t>(fault) < data.size();
  if (inject) limit = static_cast<size_t>(fault);
  size_t done = 0;
  while (done < limit) {
    ssize_t k = ::write(fd, data.data() + done, limit - done);
    if (k < 0) {
      if (errno == EINTR) continue;
      return false;
    }
    done += static_cast<size_t>(k);
  }
  if (inject) {
    errno = ENOSPC;
    return false;
  }
  return true;
}

std::string dirOf(const std::string& path) {
  size_t slash = path.rfind('/');
  if (slash == std::string::npos) return ".";
  return slash == 0 ? "/" : path.substr(0, slash);
}

}  // namespace

void setCheckpointWriteFaultForTesting(int64_t failAfterBytes) { gWriteFault = failAfterBytes; }

void saveCheckpoint(const std::string& path, const Checkpoint& c) {
  std::string body = payload(c);
  Writer file;
  file.buf.assign(kMagic, sizeof kMagic);
  file.u32(kVersion);
  file.u64(body.size());
  file.buf += body;
  file.u64(fnv1a64(body.data(), body.size()));

  const std::string tmp = path + ".tmp." + std::to_string(::getpid());
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0)
    throw DataError(path + ": cannot write checkpoint: cannot create " + tmp + ": " +
                    errnoText() + " (check that the directory exists and is writable)");
  auto fail = [&](const std::string& step) {
    std::string why = errnoText();
    if (fd >= 0) ::close(fd);
    ::unlink(tmp.c_str());
    throw DataError(path + ": cannot write checkpoint (" + step + ": " + why +
                    "); the previous checkpoint, if any, is unchanged");
  };
  if (!writeAll(fd, file.buf)) fail("write");
  if (::fsync(fd) != 0) fail("fsync");
  int rc = ::close(fd);
  fd = -1;
  if (rc != 0) fail("close");
  if (::rename(tmp.c_str(), path.c_str()) != 0) fail("rename");
  // Make the rename itself durable; some file systems refuse fsync on a directory, which is
  // harmless here because the data is already on disk.
  int dfd = ::open(dirOf(path).c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dfd >= 0) {
    (void)::fsync(dfd);
    ::close(dfd);
  }
}

Checkpoint loadCheckpoint(const std::string& path) {
  std::FILE* f = std::fopen(path.c_str(), "rb");
  if (!f)
    throw DataError(path + ": cannot open checkpoint: " + errnoText() +
                    " (train with `recc train ... --out " + path + "` to create it)");
  std::string data;
  char chunk[1 << 16];
  size_t n;
  while ((n = std::fread(chunk, 1, sizeof chunk, f)) > 0) data.append(chunk, n);
  bool err = std::ferror(f) != 0;
  std::fclose(f);
  if (err) throw DataError(path + ": cannot read checkpoint: I/O error");

  if (data.size() < sizeof kMagic || std::memcmp(data.data(), kMagic, sizeof kMagic) != 0)
    throw DataError(path + ": not a recc checkpoint (bad magic); pass a file written by "
                    "`recc train --out`");
  if (data.size() < kHeaderBytes)
    throw DataError(path + ": checkpoint is truncated (header incomplete); the save was "
                    "interrupted — retrain or restore a backup");
  Reader head(path, data.data() + sizeof kMagic, kHeaderBytes - sizeof kMagic);
  uint32_t version = head.u32();
  if (version != kVersion)
    throw DataError(path + ": unsupported checkpoint format version " + std::to_string(version) +
                    " (this recc reads version " + std::to_string(kVersion) +
                    "); use the recc that wrote it or retrain");
  uint64_t len = head.u64();
  const uint64_t have = data.size() - kHeaderBytes;
  if (have < kTrailerBytes || len > have - kTrailerBytes)
    throw DataError(path + ": checkpoint is truncated (expected " +
                    std::to_string(len + kHeaderBytes + kTrailerBytes) + " bytes, found " +
                    std::to_string(data.size()) + "); retrain or restore a backup");
  if (len < have - kTrailerBytes)
    throw DataError(path + ": checkpoint is corrupt (unexpected bytes after the end); "
                    "retrain or restore a backup");
  const char* body = data.data() + kHeaderBytes;
  Reader tail(path, body + len, kTrailerBytes);
  if (tail.u64() != fnv1a64(body, static_cast<size_t>(len)))
    throw DataError(path + " is corrupt (checksum mismatch): the file changed after it was "
                    "written; retrain or restore a backup");
  return parsePayload(path, body, static_cast<size_t>(len));
}

}  // namespace recc
