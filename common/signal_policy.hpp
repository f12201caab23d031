// What a signal means to a Conveyor process (DESIGN.md §2 rule 5), decided in the sans-IO cores:
// the first SIGTERM or SIGINT drains (finish in order), every later one stops at once. Shells
// read signals from a signalfd and only carry out the action.
#pragma once

namespace conveyor {

enum class SignalAction {
  drain,     // the first: finish in order (a producer stops reading, a consumer stops taking)
  stop_now,  // the second: leave at once; the broker redelivers what was held
};

// Counts signals: the first drains, every later one stops at once.
class SignalCount {
 public:
  SignalAction on_signal() { return ++count_ == 1 ? SignalAction::drain : SignalAction::stop_now; }
  bool draining() const { return count_ > 0; }

 private:
  unsigned count_ = 0;
};

// "SIGTERM", for log lines.
const char* signal_name(int signo);

}  // namespace conveyor
