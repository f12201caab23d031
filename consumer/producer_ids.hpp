// ProducerIds: each producer's id held once by the consumer session, so that what refers to a
// task's producer (a Delivery, a running task's reference, a Report) holds a view, not a string of
// its own.
//
// Why: a default id ("producer-HOST-PID") is longer than std::string keeps inline, so a copy per
// task cost an allocation in take_work, another for the result in the worker thread, and both
// frees: about 700 of the consumer's instructions per task (callgrind, BENCHMARKS.md).
//
// Views stay valid until clear() or prune() forgets their id. The session clears the table when it
// holds nothing (no task pending or running, no result unsent). A consumer that is never idle
// while producers come and go (short-lived ones with default ids, say) would keep every id it
// ever saw: past kPruneAbove ids it prunes instead, keeping only the ids still viewed.
#pragma once

#include <algorithm>
#include <cstddef>
#include <functional>
#include <string>
#include <string_view>
#include <unordered_set>
#include <utility>

namespace conveyor::consumer {

class ProducerIds {
 public:
  static constexpr std::size_t kPruneAbove = 1024;

  // The held copy of `id`, added if it is new.
  std::string_view intern(std::string_view id) {
    if (id == last_) return last_;  // a batch's tasks come from one producer, mostly
    auto it = ids_.find(id);
    if (it == ids_.end()) it = ids_.emplace(id).first;
    last_ = *it;
    return last_;
  }
  // Forgets every id: views from intern() are dangling after this.
  void clear() {
    ids_.clear();
    last_ = {};
    prune_above_ = kPruneAbove;
  }
  // True when the table has grown enough that prune() is worth its scan.
  bool wants_pruning() const { return ids_.size() > prune_above_; }
  // Forgets every id but those `for_each_live(keep)` passes to keep(std::string_view): views of
  // the kept ids stay valid (the set's nodes do not move). The next prune waits until the table
  // has twice as many ids as it kept, so a table of live ids is not scanned over and over.
  template <class ForEachLive>
  void prune(ForEachLive&& for_each_live) {
    std::unordered_set<const char*> live;
    for_each_live([&](std::string_view id) { live.insert(id.data()); });
    for (auto it = ids_.begin(); it != ids_.end();) {
      it = live.contains(it->data()) ? std::next(it) : ids_.erase(it);
    }
    last_ = {};
    prune_above_ = std::max(kPruneAbove, 2 * ids_.size());
  }
  std::size_t size() const { return ids_.size(); }

 private:
  struct Hash {
    using is_transparent = void;
    std::size_t operator()(std::string_view id) const noexcept {
      return std::hash<std::string_view>{}(id);
    }
  };

  std::unordered_set<std::string, Hash, std::equal_to<>> ids_;  // nodes: a held id never moves
  std::string_view last_;
  std::size_t prune_above_ = kPruneAbove;
};

}  // namespace conveyor::consumer
