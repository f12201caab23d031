// Bounded exponential backoff with jitter, for retrying a hello that got no answer.
//
// The first delay is `initial`, each next one twice the last, never more than `max`; each is
// spread by up to ±20% so that consumers cut off together do not all come back in the same
// millisecond. No clock and no sockets: the caller asks for the next delay and keeps time.
#pragma once

#include <cstdint>
#include <random>

#include "conveyor/common/clock.hpp"

namespace conveyor {

class Backoff {
 public:
  Backoff(Duration initial, Duration max, std::uint64_t seed = std::random_device{}());

  // The delay before the next attempt; counts an attempt.
  Duration next();
  // A success: the next delay is `initial` again.
  void reset() { attempts_ = 0; }
  std::uint32_t attempts() const { return attempts_; }
  // The delay next() would give before jitter.
  Duration base() const;

 private:
  Duration initial_;
  Duration max_;
  std::uint32_t attempts_ = 0;
  std::minstd_rand random_;
};

}  // namespace conveyor
