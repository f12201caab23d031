// ClientSession: what the client runtime (common/client_runtime.hpp) drives, implemented by the
// producer's and the consumer's sans-IO sessions. Every decision is behind these calls; the
// runtime only moves envelopes, signals and clock readings in, and the outbox out.
#pragma once

#include "conveyor/common/broker_link.hpp"
#include "conveyor/common/clock.hpp"
#include "conveyor/proto/conveyor.pb.h"

namespace conveyor {

// What a SIGTERM or SIGINT asks of a client (DESIGN.md §2 rule 5).
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

class ClientSession {
 public:
  virtual ~ClientSession() = default;

  // A new connection to the broker is up: say hello (a new session for the broker).
  virtual void on_connect(TimePoint now) = 0;
  virtual void on_envelope(wire::Envelope& envelope, TimePoint now) = 0;
  virtual void on_tick(TimePoint now) = 0;
  // SIGTERM/SIGINT; on stop_now the session has queued its last words (a consumer's goodbye).
  virtual SignalAction on_signal(int signo, TimePoint now) = 0;
  // Turns this round's state changes into envelopes in link().outbox().
  virtual void flush(TimePoint now) = 0;
  // Done (every task has its result, or the pill was honoured) or failed: the loop may end.
  virtual bool finished() const = 0;
  virtual BrokerLink& link() = 0;
};

}  // namespace conveyor
