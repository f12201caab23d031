#include "conveyor/consumer/prefetch.hpp"

#include <algorithm>
#include <cmath>

namespace conveyor::consumer {
namespace {

double smooth(bool first, double mean, double sample) {
  return first ? sample : 0.8 * mean + 0.2 * sample;
}

}  // namespace

void HandlerTimes::on_batch(std::size_t tasks, std::size_t payload_bytes, Duration elapsed) {
  if (tasks == 0) return;
  const double n = static_cast<double>(tasks);
  const bool first = !measured_;
  task_seconds_ = smooth(first, task_seconds_, std::chrono::duration<double>(elapsed).count() / n);
  payload_bytes_ = smooth(first, payload_bytes_, static_cast<double>(payload_bytes) / n);
  measured_ = true;
}

AutoPrefetch::AutoPrefetch(std::size_t concurrency)
    : concurrency_(std::max<std::size_t>(concurrency, 1)),
      announced_(static_cast<std::uint32_t>(2 * concurrency_)) {}

std::size_t AutoPrefetch::wanted_prefetch(const HandlerTimes& times) const {
  if (!times.measured()) return concurrency_;
  // A task faster than the clock can tell counts as 100 ns: deep prefetch, bounded below.
  const double per_task = std::max(times.seconds_per_task(), 1e-7);
  const double covering = std::ceil(static_cast<double>(concurrency_) * kCoverSeconds / per_task);
  const double by_memory =
      static_cast<double>(kMaxHeldBytes) / std::max(times.payload_bytes_per_task(), 1.0);
  const double wanted = std::min({covering, by_memory, static_cast<double>(kMaxPrefetch)});
  return std::max(concurrency_, static_cast<std::size_t>(wanted));
}

std::optional<std::uint32_t> AutoPrefetch::capacity_change(const HandlerTimes& times) {
  const auto wanted = static_cast<std::uint32_t>(concurrency_ + wanted_prefetch(times));
  if (wanted < 2 * announced_ && 2 * wanted > announced_) return std::nullopt;
  announced_ = wanted;
  return wanted;
}

}  // namespace conveyor::consumer
