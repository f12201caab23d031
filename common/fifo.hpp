// Fifo<T>: a first-in first-out queue in one vector whose storage is kept from one fill to the
// next.
//
// Why not std::deque: a deque frees a block as its last element is popped and allocates one as
// pushes reach the end of the last, so a queue that is filled and drained all the time allocates
// and frees for every few elements (a consumer's received tasks: a 512-byte block per five
// tasks, about 100 instructions per task in malloc and free, BENCHMARKS.md). Here a drained queue
// starts again at the front of the same storage, and one that never drains drops its popped
// prefix when that is at least half of what it holds, before it would grow: each element is
// moved at most once more on average, and the storage stays under four times the most it held.
#pragma once

#include <cstddef>
#include <utility>
#include <vector>

namespace conveyor {

template <class T>
class Fifo {
 public:
  bool empty() const { return head_ == items_.size(); }
  std::size_t size() const { return items_.size() - head_; }

  T& front() { return items_[head_]; }
  const T& front() const { return items_[head_]; }

  template <class... Args>
  T& emplace_back(Args&&... args) {
    if (items_.size() == items_.capacity() && head_ > 0 && head_ * 2 >= items_.size()) {
      items_.erase(items_.begin(), items_.begin() + static_cast<std::ptrdiff_t>(head_));
      head_ = 0;
    }
    return items_.emplace_back(std::forward<Args>(args)...);
  }

  // The element's resources go at once (T{} takes its place until the storage is reused).
  void pop_front() {
    items_[head_] = T{};
    if (++head_ == items_.size()) clear();
  }

  void clear() {
    items_.clear();
    head_ = 0;
  }

  std::size_t capacity() const { return items_.capacity(); }  // in elements (for tests)

  auto begin() const { return items_.begin() + static_cast<std::ptrdiff_t>(head_); }
  auto end() const { return items_.end(); }

 private:
  std::vector<T> items_;
  std::size_t head_ = 0;  // items_[0, head_) are popped
};

}  // namespace conveyor
