// RetryDelay: how long a retried task waits before it goes back to the queue. The bound is
// --retry-delay doubled for each attempt made, at most --retry-delay-max; the wait is a uniform
// draw between zero and the bound ("full jitter"), so that a burst of failures against a flaky
// remote does not come back as a burst. No clock: the caller adds the wait to now. The random
// source is seeded by the caller, so tests can pin it.
#pragma once

#include <cstdint>
#include <random>

#include "conveyor/common/clock.hpp"

namespace conveyor::broker {

class RetryDelay {
 public:
  RetryDelay(Duration base, Duration max, std::uint64_t seed);

  // The longest wait after `attempts` deliveries (1 after the first): base * 2^(attempts - 1),
  // at most max.
  Duration bound(std::uint32_t attempts) const;
  // A wait in [0, bound(attempts)].
  Duration next(std::uint32_t attempts);

 private:
  Duration base_;
  Duration max_;
  std::mt19937_64 random_;
};

}  // namespace conveyor::broker
