// KeySet: a consumer's in-flight task keys, in one flat table (open addressing, linear probing,
// backward-shift deletion: no tombstones to sweep).
//
// Why not std::unordered_set: a node allocated per delivery and freed per result; with a pool
// resource the allocator alone still cost ~330 instructions per task (callgrind). A consumer holds
// at most its capacity, so the table stays small and mostly in cache.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

#include "conveyor/broker/task_book.hpp"

namespace conveyor::broker {

class KeySet {
 public:
  // False if it was there already.
  bool insert(const TaskKey& key) {
    if ((size_ + 1) * 2 > slots_.size()) grow();
    std::size_t i = home(key);
    for (; slots_[i].used; i = next(i)) {
      if (slots_[i].key == key) return false;
    }
    slots_[i] = Slot{key, true};
    ++size_;
    return true;
  }

  bool contains(const TaskKey& key) const { return find(key) != kAbsent; }

  // False if it was not there.
  bool erase(const TaskKey& key) {
    std::size_t hole = find(key);
    if (hole == kAbsent) return false;
    // Backward shift: move up each later key of the run that may sit in the hole (its home is not
    // between the hole and where it is), so that every key stays reachable from its home.
    for (std::size_t i = next(hole); slots_[i].used; i = next(i)) {
      const std::size_t from_home = (i - home(slots_[i].key)) & mask();
      const std::size_t from_hole = (i - hole) & mask();
      if (from_home >= from_hole) {
        slots_[hole] = slots_[i];
        hole = i;
      }
    }
    slots_[hole].used = false;
    --size_;
    return true;
  }

  void clear() {
    slots_.clear();
    size_ = 0;
  }
  std::size_t size() const { return size_; }
  bool empty() const { return size_ == 0; }

  template <class F>
  void for_each(F&& f) const {
    for (const Slot& slot : slots_) {
      if (slot.used) f(slot.key);
    }
  }

 private:
  struct Slot {
    TaskKey key;
    bool used = false;
  };
  static constexpr std::size_t kAbsent = ~std::size_t{0};

  std::size_t mask() const { return slots_.size() - 1; }
  std::size_t next(std::size_t i) const { return (i + 1) & mask(); }
  std::size_t home(const TaskKey& key) const { return TaskKeyHash{}(key)&mask(); }

  std::size_t find(const TaskKey& key) const {
    if (size_ == 0) return kAbsent;
    for (std::size_t i = home(key); slots_[i].used; i = next(i)) {
      if (slots_[i].key == key) return i;
    }
    return kAbsent;
  }

  void grow() {
    std::vector<Slot> old = std::move(slots_);
    slots_.assign(old.empty() ? 16 : old.size() * 2, Slot{});
    size_ = 0;
    for (const Slot& slot : old) {
      if (slot.used) insert(slot.key);
    }
  }

  std::vector<Slot> slots_;  // a power of two in size, at most half full
  std::size_t size_ = 0;
};

}  // namespace conveyor::broker
