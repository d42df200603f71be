// Vocab: token -> id, and the bulk encoding of an id column (Vocab::encode).
#include <algorithm>
#include <array>
#include <cmath>
#include <cstring>

#include "runtime/data/Dataset.h"
#include "runtime/kernels/Memory.h"

namespace recc {

namespace {

constexpr uint64_t kLongKey = ~uint64_t{0};
// A long token's entry in keys_: this tag in the top byte (a short key's is its length, at most
// 7) and the token's offset in text_ below it.
constexpr uint64_t kLongTag = uint64_t{0xFF} << 56;

/// Tokens of up to 7 bytes are keyed by their bytes (in memory order, so that the key's first
/// bytes are the token: token() views them) and length in the top byte; longer ones share
/// kLongKey and are compared as strings. The empty token's key is 0 (no other token's is).
static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__, "short tokens are viewed inside their keys");
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

/// HyperLogLog (Flajolet et al., 2007) with 4096 registers over token hashes: the number of
/// distinct tokens within a few percent, in one pass and 4 KiB.
class DistinctSketch {
 public:
  void add(uint32_t h) {
    const uint32_t rest = h << kBits;  // the bits not used for the register index
    const auto rank = static_cast<uint8_t>(rest == 0 ? 32 - kBits + 1 : __builtin_clz(rest) + 1);
    uint8_t& m = reg_[h >> (32 - kBits)];
    m = std::max(m, rank);
  }
  size_t estimate() const {
    double sum = 0;
    size_t zeros = 0;
    for (uint8_t m : reg_) {
      sum += std::ldexp(1.0, -m);
      zeros += m == 0;
    }
    const double m = kRegisters;
    double e = 0.7213 / (1 + 1.079 / m) * m * m / sum;
    if (e <= 2.5 * m && zeros > 0) e = m * std::log(m / static_cast<double>(zeros));  // small counts
    return static_cast<size_t>(e);
  }

 private:
  static constexpr int kBits = 12;
  static constexpr size_t kRegisters = size_t{1} << kBits;
  std::array<uint8_t, kRegisters> reg_{};
};

/// reserve() at least doubling (so that reserving chunk by chunk stays linear), with huge-page
/// advice for a block large enough to be mapped on its own (see Memory.h): a table of millions
/// of slots then faults in 2 MiB at a time and is probed with fewer TLB misses.
template <class V>
void reserveLarge(V& v, size_t n) {
  if (n <= v.capacity()) return;
  v.reserve(std::max(n, 2 * v.capacity()));
  adviseHugePages(v.data(), v.capacity() * sizeof(v[0]));
}

// An index of up to this many slots (1 MiB) stays in cache and is probed token by token; a
// larger one is probed in ranges of 2^kRangeBits slots (256 KiB) by Vocab::encode's bulk passes.
constexpr size_t kCachedSlots = size_t{1} << 17;
constexpr int kRangeBits = 15;
// Rows per bulk chunk: its scratch (24 bytes a row) is 48 MiB. A chunk streams the whole index
// through the cache twice; fewer, larger chunks would touch more fresh memory, which costs
// more (the kernel zeroes each page).
constexpr int64_t kChunkRows = int64_t{1} << 21;

}  // namespace

// The reserved entries are not in the index: a data token spelled "<oov>" is an ordinary token.
Vocab::Vocab() : keys_{tokenKey("<pad>"), tokenKey("<oov>")} {}

std::string_view Vocab::token(int64_t id) const {
  const uint64_t& key = keys_[static_cast<size_t>(id)];
  if ((key & kLongTag) != kLongTag) return {reinterpret_cast<const char*>(&key), static_cast<size_t>(key >> 56)};
  const size_t at = key & ~kLongTag;
  uint32_t len = 0;
  std::memcpy(&len, text_.data() + at, sizeof len);
  return {text_.data() + at + sizeof len, len};
}

bool Vocab::holds(int32_t id, std::string_view tok, uint64_t key) const {
  const uint64_t own = keys_[static_cast<size_t>(id)];
  if (key != kLongKey) return own == key;
  return (own & kLongTag) == kLongTag && token(id) == tok;
}

struct Vocab::BulkScratch {
  struct Cell {
    uint64_t key;
    uint32_t hash;
    uint32_t row;  // in the chunk
  };
  struct Pending {  // a token new in the chunk, while its range is probed
    uint64_t key;
    uint32_t row;  // its first
    size_t slot;
  };
  std::vector<uint32_t> hash;           // per row of the chunk
  std::vector<Cell> byRange;
  std::vector<uint32_t> start, cursor;  // each range's first index in byRange; a running one
  std::vector<int32_t> res;             // per byRange entry: an id, or -(first row + 1)
  std::vector<uint64_t> first;          // bitmap of the rows where a new token first appears
  std::vector<uint32_t> before;         // per bitmap word: the bits set in the words before it
  std::vector<Pending> local;
  std::vector<size_t> fresh;            // the slots of the chunk's new tokens, by range
  std::vector<size_t> freshStart;       // each range's first index in fresh
};

void Vocab::loadRange(size_t k) const {
  // Ahead of a range's random probes: a stream the memory system serves at full bandwidth,
  // where probing a cold range misses one line at a time.
  const Slot* p = slots_.data() + (k << kRangeBits);
  constexpr size_t kPerLine = 64 / sizeof(Slot);
  for (size_t i = 0; i < (size_t{1} << kRangeBits); i += kPerLine) __builtin_prefetch(p + i);
}

size_t distinctEstimate(CsvTable::Column cells, int64_t from) {
  DistinctSketch s;
  for (int64_t r = from; r < cells.size(); ++r) {
    const std::string_view tok = cells[r];
    s.add(tokenHash(tok, tokenKey(tok)));
  }
  return s.estimate();
}

size_t Vocab::find(std::string_view tok, uint64_t key, uint32_t hash) const {
  const size_t mask = slots_.size() - 1;
  for (size_t i = hash & mask;; i = (i + 1) & mask) {
    const Slot& s = slots_[i];
    if (s.id == 0) return i;
    if (s.hash == hash && holds(s.id, tok, key)) return i;
  }
}

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
  size_t slots = 64;
  while (3 * slots < 4 * n) slots *= 2;
  if (slots > slots_.size()) rehash(slots);
}

int32_t Vocab::add(std::string_view tok) {
  if (4 * (keys_.size() + 1) > 3 * slots_.size()) rehash(slots_.empty() ? 64 : 2 * slots_.size());
  const uint64_t key = tokenKey(tok);
  const uint32_t h = tokenHash(tok, key);
  Slot& s = slots_[find(tok, key, h)];
  if (s.id != 0) return s.id;
  s.hash = h;
  s.id = static_cast<int32_t>(keys_.size());
  push(tok, key);
  return s.id;
}

void Vocab::push(std::string_view tok, uint64_t key) {
  if (key != kLongKey) {
    keys_.push_back(key);
    return;
  }
  keys_.push_back(kLongTag | text_.size());
  const auto len = static_cast<uint32_t>(tok.size());  // a cell is at most 16 MiB (CsvTable)
  text_.append(reinterpret_cast<const char*>(&len), sizeof len);
  text_.append(tok);
}

int32_t Vocab::lookup(std::string_view tok) const {
  if (slots_.empty()) return 1;
  const uint64_t key = tokenKey(tok);
  const Slot& s = slots_[find(tok, key, tokenHash(tok, key))];
  return s.id == 0 ? 1 : s.id;
}

int64_t Vocab::encode(CsvTable::Column cells, int64_t begin, int64_t end, bool grow, int32_t* out) {
  int64_t unknown = 0;
  BulkScratch scratch;
  for (int64_t b = begin; b < end;) {
    const int64_t n = std::min(end - b, kChunkRows);
    if (slots_.size() > kCachedSlots && n > 1024) {
      unknown += encodeBulk(cells, b, n, grow, out, scratch);
    } else {
      for (int64_t r = b; r < b + n; ++r) {
        const std::string_view tok = cells[r];
        const int32_t id = tok.empty() ? 1 : grow ? add(tok) : lookup(tok);
        out[r] = id;
        unknown += id == 1;  // add() never gives 1: "<oov>" in the data is an ordinary token
      }
    }
    b += n;
  }
  return unknown;
}

// A large index probed in row order misses the cache (and, on this kind of machine, the TLB)
// at nearly every token: ~200 ns a token, which made reading a column of 10 million distinct ids
// take seconds. Here the chunk's cells are first partitioned by the range of slots their hash
// falls in, then each range is probed while it is in cache, then the ids go back to row order.
// New tokens get ids by first appearance, exactly as add() row by row would: while a range is
// probed, a new token's slot holds -(its first row + 1), and once every range is done a bitmap
// of first rows ranks them.
int64_t Vocab::encodeBulk(CsvTable::Column cells, int64_t begin, int64_t n, bool grow, int32_t* out,
                          BulkScratch& s) {
  using Cell = BulkScratch::Cell;
  int64_t unknown = 0;
  // 1. Hash each cell (row order); sketch the chunk's distinct count to size the index.
  if (s.hash.size() < static_cast<size_t>(n)) {  // sized once, for the largest chunk
    s.hash = zeroed<uint32_t>(static_cast<size_t>(n));
    s.byRange = zeroed<Cell>(static_cast<size_t>(n));
    s.res = zeroed<int32_t>(static_cast<size_t>(n));
  }
  DistinctSketch sketch;
  for (int64_t i = 0; i < n; ++i) {
    const std::string_view tok = cells[begin + i];
    const uint32_t h = tokenHash(tok, tokenKey(tok));
    s.hash[static_cast<size_t>(i)] = h;
    if (grow && !tok.empty()) sketch.add(h);
  }
  if (grow) {
    // Room for the estimate with a wide margin (HyperLogLog's error here is ~1.6%) at the usual
    // 3/4 load and, whatever the estimate, for every row of the chunk, so that a probe always
    // ends at an empty slot.
    const size_t est = sketch.estimate();
    const size_t bound = std::min(static_cast<size_t>(n), est + est / 8 + 1024);
    const size_t size = keys_.size();
    size_t slots = slots_.size();
    while (4 * (size + bound) > 3 * slots || size + static_cast<size_t>(n) >= slots) slots *= 2;
    if (slots > slots_.size()) reserve(slots * 3 / 4 - size);
  }
  // 2. Partition by slot range (a counting sort: each range's cells stay in row order).
  const size_t mask = slots_.size() - 1;
  const size_t ranges = slots_.size() >> kRangeBits;
  auto rangeOf = [&](uint32_t h) { return (h & mask) >> kRangeBits; };
  auto text = [&](uint32_t row) { return cells[begin + row]; };
  s.start.assign(ranges + 1, 0);
  for (uint32_t i = 0; i < n; ++i) {
    if (text(i).empty()) {  // unknown, not padding (see Dataset.h)
      out[begin + i] = 1;
      ++unknown;
      continue;
    }
    ++s.start[rangeOf(s.hash[i]) + 1];
  }
  for (size_t k = 0; k < ranges; ++k) s.start[k + 1] += s.start[k];
  s.cursor.assign(s.start.begin(), s.start.end() - 1);
  for (uint32_t i = 0; i < n; ++i) {
    const std::string_view tok = text(i);
    if (!tok.empty()) s.byRange[s.cursor[rangeOf(s.hash[i])]++] = {tokenKey(tok), s.hash[i], i};
  }
  // 3. Probe range by range.
  auto pendingId = [](uint32_t row) { return -static_cast<int32_t>(row) - 1; };
  const size_t words = (static_cast<size_t>(n) + 63) / 64;
  s.first.assign(words, 0);
  s.fresh.clear();
  s.freshStart.resize(ranges + 1);
  for (size_t k = 0; k < ranges; ++k) {
    loadRange(k);
    s.freshStart[k] = s.fresh.size();
    s.local.clear();  // while the range is probed, a new token's slot holds -(index here + 1)
    for (uint32_t j = s.start[k]; j < s.start[k + 1]; ++j) {
      const Cell& c = s.byRange[j];
      for (size_t i = c.hash & mask;; i = (i + 1) & mask) {
        Slot& slot = slots_[i];
        if (slot.id == 0) {
          if (grow) {
            slot = {c.hash, -static_cast<int32_t>(s.local.size() + 1)};
            s.local.push_back({c.key, c.row, i});
            s.res[j] = pendingId(c.row);
          } else {
            s.res[j] = 1;
            ++unknown;
          }
          break;
        }
        if (slot.hash != c.hash) continue;
        if (slot.id > 0) {
          if (holds(slot.id, text(c.row), c.key)) {
            s.res[j] = slot.id;
            break;
          }
        } else {  // equal hashes fall in the same range: a pending slot here is this range's
          const BulkScratch::Pending& p = s.local[static_cast<size_t>(-slot.id - 1)];
          if (p.key == c.key && (c.key != kLongKey || text(p.row) == text(c.row))) {
            s.res[j] = pendingId(p.row);
            break;
          }
        }
      }
    }
    for (const BulkScratch::Pending& p : s.local) {
      s.first[p.row / 64] |= uint64_t{1} << (p.row % 64);
      slots_[p.slot].id = pendingId(p.row);
      s.fresh.push_back(p.slot);
    }
  }
  // 4. Number the new tokens by first row: base + the new tokens first seen before it.
  s.before.resize(words);
  uint32_t count = 0;
  for (size_t w = 0; w < words; ++w) {
    s.before[w] = count;
    count += static_cast<uint32_t>(__builtin_popcountll(s.first[w]));
  }
  const auto base = static_cast<int32_t>(keys_.size());
  auto idOf = [&](int32_t r) -> int32_t {
    if (r > 0) return r;
    const auto row = static_cast<uint32_t>(-(r + 1));
    const uint64_t below = s.first[row / 64] & ((uint64_t{1} << (row % 64)) - 1);
    return base + static_cast<int32_t>(s.before[row / 64]) + __builtin_popcountll(below);
  };
  s.freshStart[ranges] = s.fresh.size();
  for (size_t k = 0; k < ranges; ++k) {
    if (s.freshStart[k] == s.freshStart[k + 1]) continue;
    loadRange(k);
    for (size_t f = s.freshStart[k]; f < s.freshStart[k + 1]; ++f) slots_[s.fresh[f]].id = idOf(slots_[s.fresh[f]].id);
  }
  reserveLarge(keys_, keys_.size() + count);
  for (size_t w = 0; w < words; ++w)
    for (uint64_t bits = s.first[w]; bits; bits &= bits - 1) {
      const std::string_view tok = text(static_cast<uint32_t>(w * 64) + static_cast<uint32_t>(__builtin_ctzll(bits)));
      push(tok, tokenKey(tok));
    }
  // 5. Back to row order: each range's results are read in the order they were written.
  s.cursor.assign(s.start.begin(), s.start.end() - 1);
  for (uint32_t i = 0; i < n; ++i)
    if (!text(i).empty()) out[begin + i] = idOf(s.res[s.cursor[rangeOf(s.hash[i])]++]);
  return unknown;
}

std::map<std::string, int64_t> vocabSizes(const Vocabularies& v) {
  std::map<std::string, int64_t> out;
  for (const auto& [name, voc] : v) out[name] = voc.size();
  return out;
}

}  // namespace recc
