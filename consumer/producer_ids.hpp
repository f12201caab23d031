// ProducerIds: each producer's id held once by the consumer session, so that what refers to a
// task's producer (a Delivery, a running task's reference, a Report) holds a view, not a string of
// its own.
//
// Why: a default id ("producer-HOST-PID") is longer than std::string keeps inline, so a copy per
// task cost an allocation in take_work, another for the result in the worker thread, and both
// frees: about 700 of the consumer's instructions per task (callgrind, BENCHMARKS.md).
//
// Views stay valid until clear(). The session clears only when it holds nothing (no task pending
// or running, no result unsent), so the table holds the ids of the producers whose tasks came
// since the consumer was last idle: a handful, not one per task.
#pragma once

#include <cstddef>
#include <functional>
#include <string>
#include <string_view>
#include <unordered_set>

namespace conveyor::consumer {

class ProducerIds {
 public:
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
};

}  // namespace conveyor::consumer
