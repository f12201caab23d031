// Time as every Conveyor component sees it: a monotonic clock, injected into the sans-IO cores so
// tests can drive time by hand.
#pragma once

#include <algorithm>
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

// How often a component looks at its deadlines (heartbeats due, peers gone silent), the broker
// and a busy welcomed client alike: a quarter of the heartbeat, between 10 and 250 ms. A heartbeat
// then leaves at most a quarter of one late (peers allow --liveness of them), and the broker wakes
// a few times per heartbeat, not every few milliseconds (an idle client ticks only at its link's
// deadlines, BrokerLink::next_deadline()).
inline Duration tick_period(Duration heartbeat) {
  return std::clamp<Duration>(heartbeat / 4, milliseconds(10), milliseconds(250));
}

}  // namespace conveyor
