// Signals arrive as readable data on a signalfd watched by the event loop, never as a global flag.
#pragma once

#include <initializer_list>
#include <optional>

#include "conveyor/common/signal_policy.hpp"

namespace conveyor {

// Blocks the given signals in the calling thread and opens a signalfd for them. Construct it before
// any thread starts (the ZeroMQ context's I/O threads included): threads inherit the blocked mask,
// so the signal can only ever be read here.
class SignalFd {
 public:
  explicit SignalFd(std::initializer_list<int> signals);
  ~SignalFd();
  SignalFd(const SignalFd&) = delete;
  SignalFd& operator=(const SignalFd&) = delete;

  int fd() const { return fd_; }
  // The next pending signal number, or nothing when none is pending.
  std::optional<int> read();

 private:
  int fd_ = -1;
};

// Ignores SIGPIPE process-wide: a closed pipe to a child must be an error code, not a death.
void ignore_sigpipe();

}  // namespace conveyor
