// SeqTable<T>: one producer's values keyed by task seq, without a heap node per value: in the
// broker, its tasks in the book and its final results waiting for an acknowledgement; in the
// producer, the payloads of its tasks without a final result (kept to send again).
//
// Why not a std::map or std::unordered_map: each insert there allocates a node and each erase frees
// it, and at a million tasks a second that was a third of the broker's instructions (BENCHMARKS.md,
// "CPU per task"). A producer's seqs are dense (0, 1, 2, ...; emitted tasks 2^63, 2^63 + 1, ...)
// and are final roughly in the order they came, so a ring indexed by seq finds a value with
// one mask, and the values themselves live in a pool whose slots are reused: a freed value keeps
// its strings' buffers for the next one (T::reset() decides what it keeps).
//
// Addresses are stable: a value stays where it is until it is erased, whatever is added meanwhile
// (Core holds a TaskRecord& while a result adds the tasks it emitted).
//
// A seq older than the oldest one held goes to a std::map instead, and so do stragglers: when
// a new seq lies over kMaxSpan past the oldest one held and the ring is sparse (fewer than one
// value held per kDenseCells cells), the old values move to the map and the ring moves on. So a
// task stuck at the head costs one node while the rest flow through the ring (one held 12 s among
// 2 M tasks: the broker's CPU halved, BENCHMARKS.md). A dense one grows instead: a --window of
// 200,000 tasks all unfinished keeps its values in a ring of 262,144 cells, not 134,464 of them in
// map nodes. Moving on scans the ring's cells up to the new start: for rising seqs that is a cell
// or two per seq added; seqs that jump by a ring's size each time would pay a ring each (no
// producer numbers its tasks so), and a ring never shrinks until its table empties.
#pragma once

#include <array>
#include <bit>
#include <cassert>
#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

namespace conveyor {

// The largest string buffer a pooled value keeps for the next one. Reuse saves an allocation and
// a free per task (at 1 KiB tasks, with 256 here, a payload and a final result allocated each
// time cost the broker about 1,000 instructions per task); 2 KiB holds a 1 KiB task's payload
// and its result with the result's other fields. The cap keeps a pool from hoarding: a freed
// value holds at most this much (per string), and a live one at most this much beyond its own
// bytes, so after a burst a producer's pools hold at most 2 x 2 KiB per task of the burst.
inline constexpr std::size_t kKeptBufferBytes = 2048;

// Frees `text`'s buffer when it is over kKeptBufferBytes; true if it did.
inline bool drop_large_buffer(std::string& text) {
  if (text.capacity() <= kKeptBufferBytes) return false;
  std::string().swap(text);
  return true;
}

// For T::reset() of pooled values: empties `text`, keeping a small buffer for the next value.
inline void empty_keeping_small_buffer(std::string& text) {
  if (!drop_large_buffer(text)) text.clear();
}

template <class T>
class SeqTable {
 public:
  static constexpr std::uint64_t kMaxSpan = std::uint64_t{1} << 16;

  T* find(std::uint64_t seq) {
    const std::uint32_t slot = lookup(seq);
    return slot == kNone ? nullptr : &at(slot);
  }
  const T* find(std::uint64_t seq) const { return const_cast<SeqTable*>(this)->find(seq); }
  bool contains(std::uint64_t seq) const { return find(seq) != nullptr; }

  // The value for `seq`, added (from the pool, reset) if there was none; `added` says which.
  T& get_or_add(std::uint64_t seq, bool* added = nullptr) {
    std::uint32_t slot = lookup(seq);
    if (added) *added = slot == kNone;
    if (slot == kNone) {
      slot = take_slot();
      place(seq, slot);
      ++size_;
    }
    return at(slot);
  }

  // Removes `seq`'s value (reset for reuse); false if there was none.
  bool erase(std::uint64_t seq) {
    return erase_if(seq, [](const T&) { return true; });
  }

  // Removes `seq`'s value if `wanted(value)` says so, in one lookup where find() then erase()
  // took two; false if there was none or it stays.
  template <class Wanted>
  bool erase_if(std::uint64_t seq, Wanted&& wanted) {
    Range& range = range_of(seq);
    std::uint32_t slot = kNone;
    if (range.holds(seq) && range.ring[range.index(seq)] != kNone) {
      std::uint32_t& cell = range.ring[range.index(seq)];
      if (!wanted(std::as_const(at(cell)))) return false;
      slot = std::exchange(cell, kNone);
      --range.count;
      range.advance_base();
    } else if (auto it = overflow_.find(seq); it != overflow_.end()) {
      if (!wanted(std::as_const(at(it->second)))) return false;
      slot = it->second;
      overflow_.erase(it);
    }
    if (slot == kNone) return false;
    release_slot(slot);
    return true;
  }

  // Calls f(seq, value) for every value: each range in seq order, then the stragglers.
  template <class F>
  void for_each(F&& f) {
    for (Range& range : ranges_) {
      for (std::uint64_t seq = range.base; range.count > 0 && seq < range.base + range.ring.size();
           ++seq) {
        if (const std::uint32_t slot = range.ring[range.index(seq)]; slot != kNone) {
          f(seq, at(slot));
        }
      }
    }
    for (auto& [seq, slot] : overflow_)
      f(seq, at(slot));
  }

  void clear() {
    for (Range& range : ranges_)
      range = Range{};
    overflow_.clear();
    chunks_.clear();
    allocated_ = 0;
    free_.clear();
    size_ = 0;
  }

  std::size_t size() const { return size_; }
  bool empty() const { return size_ == 0; }
  // Values kept in the map (older than a ring's oldest, or moved out of a sparse ring).
  std::size_t stragglers() const { return overflow_.size(); }

 private:
  static constexpr std::uint32_t kNone = 0xFFFFFFFFu;
  static constexpr std::size_t kFirstRing = 64;
  static constexpr std::uint32_t kChunk = 256;
  // Past kMaxSpan a ring grows only while it holds a value per kDenseCells cells at least: when it
  // grows its cells (4 bytes, the span rounded up to a power of two) cost at most 64 bytes per
  // value held, a fraction of the value itself.
  static constexpr std::uint64_t kDenseCells = 8;
  // An emptied table gives its pool back above this many values: a peak that large (a big
  // --queue-capacity flooded) is not kept. Below it the pool stays, or a table that empties after
  // every batch would allocate its values again for each one.
  static constexpr std::size_t kKeptWhenEmpty = std::size_t{1} << 16;

  // Seqs [base, base + ring.size()) map to ring cells by their low bits; a cell holds a pool slot.
  struct Range {
    std::vector<std::uint32_t> ring;
    std::uint64_t base = 0;
    std::size_t count = 0;  // cells in use

    bool holds(std::uint64_t seq) const { return seq >= base && seq - base < ring.size(); }
    std::size_t index(std::uint64_t seq) const { return seq & (ring.size() - 1); }
    // The oldest seq held becomes the base, so the ring spans only what is held.
    void advance_base() {
      while (count > 0 && ring[index(base)] == kNone)
        ++base;
    }
  };

  // Producer seqs and emitted seqs (top bit set) are two dense runs far apart: one ring each.
  Range& range_of(std::uint64_t seq) { return ranges_[seq >> 63]; }

  T& at(std::uint32_t slot) { return chunks_[slot / kChunk][slot % kChunk]; }

  std::uint32_t lookup(std::uint64_t seq) {
    Range& range = range_of(seq);
    if (range.holds(seq)) {
      if (const std::uint32_t slot = range.ring[range.index(seq)]; slot != kNone) return slot;
    }
    if (overflow_.empty()) return kNone;
    auto it = overflow_.find(seq);
    return it == overflow_.end() ? kNone : it->second;
  }

  void place(std::uint64_t seq, std::uint32_t slot) {
    Range& range = range_of(seq);
    if (range.count == 0) range.base = seq;  // nothing held: the ring may start anywhere
    if (seq >= range.base && seq - range.base >= range.ring.size()) make_room(range, seq);
    if (!range.holds(seq)) {
      overflow_.emplace(seq, slot);
      return;
    }
    range.ring[range.index(seq)] = slot;
    ++range.count;
  }

  // Before `seq` (past the ring's end) goes in: a ring within kMaxSpan, or dense, grows to reach
  // it; a sparse one moves its values older than half a ring before `seq` to the map instead.
  void make_room(Range& range, std::uint64_t seq) {
    const std::uint64_t offset = seq - range.base;
    if (offset < kMaxSpan || offset <= kDenseCells * range.count) return grow(range, offset + 1);
    const std::uint64_t keep_from = seq - range.ring.size() / 2;
    for (std::uint64_t old = range.base; old < keep_from && range.count > 0; ++old) {
      if (old - range.base >= range.ring.size()) break;  // every cell was looked at
      std::uint32_t& cell = range.ring[range.index(old)];
      if (cell == kNone) continue;
      overflow_.emplace(old, std::exchange(cell, kNone));
      --range.count;
    }
    range.base = range.count == 0 ? seq : keep_from;
    range.advance_base();
  }

  // A ring of at least `span` cells (a power of two), the held cells moved to their new places.
  static void grow(Range& range, std::uint64_t span) {
    const std::size_t size = std::bit_ceil(std::max<std::size_t>(span, kFirstRing));
    std::vector<std::uint32_t> ring(size, kNone);
    for (std::uint64_t seq = range.base; seq < range.base + range.ring.size(); ++seq) {
      ring[seq & (size - 1)] = range.ring[range.index(seq)];
    }
    range.ring = std::move(ring);
  }

  std::uint32_t take_slot() {
    if (!free_.empty()) {
      const std::uint32_t slot = free_.back();
      free_.pop_back();
      return slot;
    }
    assert(allocated_ < kNone - kChunk && "SeqTable: pool full");
    if (allocated_ == chunks_.size() * kChunk) chunks_.push_back(std::make_unique<T[]>(kChunk));
    return allocated_++;
  }

  void release_slot(std::uint32_t slot) {
    --size_;
    if (size_ == 0 && allocated_ > kKeptWhenEmpty) return clear();
    at(slot).reset();
    free_.push_back(slot);
  }

  std::array<Range, 2> ranges_;
  std::map<std::uint64_t, std::uint32_t> overflow_;
  // The pool: values in chunks that never move; slot s is chunks_[s / kChunk][s % kChunk].
  std::vector<std::unique_ptr<T[]>> chunks_;
  std::uint32_t allocated_ = 0;  // slots handed out so far (in use or in free_)
  std::vector<std::uint32_t> free_;
  std::size_t size_ = 0;
};

}  // namespace conveyor
