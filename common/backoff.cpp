#include "conveyor/common/backoff.hpp"

#include <algorithm>

namespace conveyor {

Backoff::Backoff(Duration initial, Duration max, std::uint64_t seed)
    : initial_(std::max(initial, Duration(1))),
      max_(std::max(max, initial_)),
      random_(static_cast<std::minstd_rand::result_type>(seed)) {}

Duration Backoff::base() const {
  Duration delay = initial_;
  for (std::uint32_t i = 0; i < attempts_ && delay < max_; ++i)
    delay *= 2;  // at most ~log2(max/initial) doublings: no overflow
  return std::min(delay, max_);
}

Duration Backoff::next() {
  const Duration delay = base();
  ++attempts_;
  std::uniform_real_distribution<double> spread(0.8, 1.2);
  const auto jittered =
      Duration(static_cast<Duration::rep>(static_cast<double>(delay.count()) * spread(random_)));
  return std::max(jittered, Duration(1));
}

}  // namespace conveyor
