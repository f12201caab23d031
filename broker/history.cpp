#include "conveyor/broker/history.hpp"

#include <algorithm>

namespace conveyor::broker {

CompletionHistory::CompletionHistory(std::size_t rates, Duration interval)
    : ring_(std::max<std::size_t>(rates, 1) + 1), interval_(interval) {}

void CompletionHistory::on_tick(TimePoint now, std::uint64_t completed) {
  if (due_ && now < *due_) return;
  const std::size_t slot = (oldest_ + size_) % ring_.size();
  ring_[slot] = Sample{now, completed};
  if (size_ < ring_.size()) {
    ++size_;
  } else {
    oldest_ = (oldest_ + 1) % ring_.size();  // full: the new sample took the oldest one's place
  }
  // The next sample is due one interval after this one was due, not after it was taken: ticks
  // land a little late, and the samples must not drift. A tick late by a whole interval (a
  // stalled loop) starts the schedule again from now rather than sampling to catch up.
  due_ = (!due_ || now - *due_ >= interval_) ? now + interval_ : *due_ + interval_;
}

const CompletionHistory::Sample& CompletionHistory::at(std::size_t age_order) const {
  return ring_[(oldest_ + age_order) % ring_.size()];
}

std::vector<double> CompletionHistory::per_second() const {
  std::vector<double> rates;
  if (size_ < 2) return rates;
  rates.reserve(size_ - 1);
  for (std::size_t i = 1; i < size_; ++i) {
    const Sample& before = at(i - 1);
    const Sample& after = at(i);
    const double seconds = seconds_between(before.at, after.at);
    // Totals only grow; a smaller one would be a bug elsewhere, not a negative rate to draw.
    const double done = after.completed > before.completed
                            ? static_cast<double>(after.completed - before.completed)
                            : 0.0;
    rates.push_back(seconds > 0 ? done / seconds : 0.0);
  }
  return rates;
}

}  // namespace conveyor::broker
