// Time as every Conveyor component sees it: a monotonic clock, injected into the sans-IO cores so
// tests can drive time by hand.
#pragma once

#include <chrono>

namespace conveyor {

using Clock = std::chrono::steady_clock;
using TimePoint = Clock::time_point;
using Duration = Clock::duration;
using std::chrono::milliseconds;

inline double seconds_between(TimePoint from, TimePoint to) {
  return std::chrono::duration<double>(to - from).count();
}

inline long long to_ms(Duration d) {
  return std::chrono::duration_cast<milliseconds>(d).count();
}

}  // namespace conveyor
