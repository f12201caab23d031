// What finished work tells a consumer about its handler, and what it does with it.
//
// HandlerTimes keeps one running mean of handler time and of payload size per task, fed with every
// finished batch. Two decisions read it: how many tasks to hand a worker at once (the session's
// work plan) and, with --prefetch auto, how many tasks to hold (AutoPrefetch).
//
// AutoPrefetch: a worker that finishes a task waits a network round trip for the next one unless
// the consumer already holds it. Fast tasks therefore need a deep prefetch (an echo takes about a
// microsecond; a round trip on loopback tens of them), slow ones a shallow one (a task held here
// is a task no idle consumer elsewhere can take). The prefetch covers kCoverSeconds of work per
// worker, between `concurrency` and kMaxPrefetch tasks, and never more than kMaxHeldBytes of
// payload. Sans-IO, like the rest of the session.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>

#include "conveyor/common/clock.hpp"

namespace conveyor::consumer {

class HandlerTimes {
 public:
  // A worker finished `tasks` tasks carrying `payload_bytes` in all, in `elapsed`.
  void on_batch(std::size_t tasks, std::size_t payload_bytes, Duration elapsed);
  bool measured() const { return measured_; }
  double seconds_per_task() const { return task_seconds_; }  // 0 before the first batch
  double payload_bytes_per_task() const { return payload_bytes_; }

 private:
  bool measured_ = false;
  double task_seconds_ = 0;
  double payload_bytes_ = 0;
};

class AutoPrefetch {
 public:
  static constexpr double kCoverSeconds = 0.005;
  static constexpr std::size_t kMaxPrefetch = 4000;
  static constexpr std::size_t kMaxHeldBytes = 64u << 20;

  explicit AutoPrefetch(std::size_t concurrency);

  // The capacity to announce (concurrency + prefetch) when it moved far enough from the last one
  // announced (a factor of 2 either way, so the broker is not told about every jitter).
  std::optional<std::uint32_t> capacity_change(const HandlerTimes& times);
  std::uint32_t capacity() const { return announced_; }
  std::size_t wanted_prefetch(const HandlerTimes& times) const;

 private:
  std::size_t concurrency_;
  std::uint32_t announced_;
};

}  // namespace conveyor::consumer
