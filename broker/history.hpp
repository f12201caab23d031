// Completed tasks per second over the last minutes, for the status page's chart. The broker keeps
// it itself, so that a page opened late still shows the minutes before it was opened.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <vector>

#include "conveyor/common/clock.hpp"

namespace conveyor::broker {

// A bounded ring of (time, completed total) samples, one per interval, taken from the broker's
// tick. No sockets, no clock of its own: the caller says what time it is.
class CompletionHistory {
 public:
  static constexpr std::size_t kDefaultRates = 300;  // five minutes of seconds

  explicit CompletionHistory(std::size_t rates = kDefaultRates,
                             Duration interval = std::chrono::seconds(1));

  // Called on every tick with the completed total (ok + failed + dead): keeps a sample when the
  // next one is due (the first call's included); the calls in between change nothing.
  void on_tick(TimePoint now, std::uint64_t completed);

  // Completions per second between consecutive samples, oldest first; at most capacity().
  std::vector<double> per_second() const;

  std::size_t capacity() const { return ring_.size() - 1; }
  Duration interval() const { return interval_; }

 private:
  struct Sample {
    TimePoint at;
    std::uint64_t completed = 0;
  };

  const Sample& at(std::size_t age_order) const;  // 0: the oldest kept

  std::vector<Sample> ring_;  // capacity() + 1 samples make capacity() rates
  std::size_t oldest_ = 0;
  std::size_t size_ = 0;
  Duration interval_;
  std::optional<TimePoint> due_;
};

}  // namespace conveyor::broker
