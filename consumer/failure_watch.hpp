// FailureWatch: notices a handler that fails most of its tasks (a command that is not found, a
// wrong path, a dead remote) so that the consumer says so in its log, once and then at most once
// a minute, instead of failing a thousand tasks in silence. Sans-IO: fed results and the time.
#pragma once

#include <cstddef>
#include <deque>
#include <optional>
#include <string>
#include <string_view>

#include "conveyor/common/clock.hpp"

namespace conveyor::consumer {

class FailureWatch {
 public:
  static constexpr std::size_t kWindow = 20;                    // the last results looked at
  static constexpr std::size_t kFailures = 18;                  // of them failed: "most tasks"
  static constexpr Duration kQuiet = std::chrono::seconds(60);  // between two warnings

  // One result of the handler; a warning to log when one is due.
  std::optional<std::string> on_result(bool ok, std::string_view error, TimePoint now);

 private:
  std::deque<bool> recent_;  // true: failed
  std::size_t failures_ = 0;
  std::optional<TimePoint> warned_at_;
};

}  // namespace conveyor::consumer
