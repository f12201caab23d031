// consumer::AutoPrefetch: how many tasks a consumer asks to hold when --prefetch is "auto".
//
// A worker that finishes a task waits a network round trip for the next one unless the consumer
// already holds it. Fast tasks therefore need a deep prefetch (an echo takes about a microsecond;
// a round trip on loopback tens of them), slow ones a shallow one (a task held here is a task no
// idle consumer elsewhere can take). The prefetch covers kCover of work per worker, between
// `concurrency` and kMaxPrefetch tasks, and never more than kMaxHeldBytes of payload.
// Sans-IO: fed with finished batches, it says when the announced capacity should change.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>

#include "common/clock.hpp"

namespace conveyor::consumer {

class AutoPrefetch {
 public:
  static constexpr double kCoverSeconds = 0.005;
  static constexpr std::size_t kMaxPrefetch = 4000;
  static constexpr std::size_t kMaxHeldBytes = 64u << 20;

  explicit AutoPrefetch(std::size_t concurrency);

  // A worker finished `tasks` tasks carrying `payload_bytes` in all, in `elapsed`.
  void on_batch(std::size_t tasks, std::size_t payload_bytes, Duration elapsed);
  // The capacity to announce (concurrency + prefetch) when it moved far enough from the last one
  // announced (a factor of 2 either way, so the broker is not told about every jitter).
  std::optional<std::uint32_t> capacity_change();
  std::uint32_t capacity() const { return announced_; }
  std::size_t wanted_prefetch() const;

 private:
  std::size_t concurrency_;
  double task_seconds_ = 0;   // running mean per task
  double payload_bytes_ = 0;  // running mean per task
  std::uint32_t announced_;
};

}  // namespace conveyor::consumer
