#include "conveyor/consumer/failure_watch.hpp"

namespace conveyor::consumer {

std::optional<std::string> FailureWatch::on_result(bool ok, std::string_view error, TimePoint now) {
  recent_.push_back(!ok);
  failures_ += ok ? 0 : 1;
  if (recent_.size() > kWindow) {
    failures_ -= recent_.front() ? 1 : 0;
    recent_.pop_front();
  }
  if (ok || recent_.size() < kWindow || failures_ < kFailures) return std::nullopt;
  if (warned_at_ && now - *warned_at_ < kQuiet) return std::nullopt;
  warned_at_ = now;
  return "the handler failed " + std::to_string(failures_) + " of the last " +
         std::to_string(recent_.size()) + " tasks; the last error: " + std::string(error);
}

}  // namespace conveyor::consumer
