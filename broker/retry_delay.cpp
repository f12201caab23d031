#include "conveyor/broker/retry_delay.hpp"

#include <algorithm>

namespace conveyor::broker {

RetryDelay::RetryDelay(Duration base, Duration max, std::uint64_t seed)
    : base_(base), max_(std::max(base, max)), random_(seed) {}

Duration RetryDelay::bound(std::uint32_t attempts) const {
  Duration bound = base_;
  for (std::uint32_t i = 1; i < attempts && bound < max_; ++i)
    bound *= 2;  // doubling until the cap: no overflow however many attempts
  return std::min(bound, max_);
}

Duration RetryDelay::next(std::uint32_t attempts) {
  const auto limit = bound(attempts).count();
  if (limit <= 0) return Duration::zero();
  std::uniform_int_distribution<Duration::rep> draw(0, limit);
  return Duration(draw(random_));
}

}  // namespace conveyor::broker
