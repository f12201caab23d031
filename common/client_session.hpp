// ClientSession: what the client runtime (common/client_runtime.hpp) drives, implemented by the
// producer's and the consumer's sans-IO sessions. Every decision is behind these calls; the
// runtime only moves envelopes, signals and clock readings in, and the outbox out.
#pragma once

#include <memory>
#include <string_view>

#include <spdlog/logger.h>

#include "conveyor/common/batch_reader.hpp"
#include "conveyor/common/broker_link.hpp"
#include "conveyor/common/clock.hpp"
#include "conveyor/common/codec.hpp"
#include "conveyor/common/signal_policy.hpp"
#include "conveyor/proto/conveyor.pb.h"

namespace conveyor {

class ClientSession {
 public:
  ClientSession(const LinkConfig& config, wire::Role role, std::shared_ptr<spdlog::logger> log,
                TimePoint now)
      : link_(config, role, std::move(log), now) {}
  virtual ~ClientSession() = default;

  // A new connection to the broker is up: say hello (a new session for the broker).
  virtual void on_connect(TimePoint now) = 0;
  // A frame from the broker before it is decoded, for a session that reads some in place: true
  // when it took the frame (it may keep `owner`, which keeps `frame` alive), false to have it
  // decoded and given to on_envelope.
  virtual bool on_frame(std::string_view frame, const std::shared_ptr<const void>& owner,
                        TimePoint now) {
    (void)frame, (void)owner, (void)now;
    return false;
  }
  virtual void on_envelope(wire::Envelope& envelope, TimePoint now) = 0;
  virtual void on_tick(TimePoint now) = 0;
  // SIGTERM/SIGINT; on stop_now the session has queued its last words (a consumer's goodbye).
  virtual SignalAction on_signal(int signo, TimePoint now) = 0;
  // Turns this round's state changes into messages in link().outbox(): envelopes, or batches
  // written as their bytes already (BatchWriter).
  virtual void flush(TimePoint now) = 0;
  // Holds no work and waits for none of its own deadlines: only the link's matter. Idle, a session
  // is ticked at link().next_deadline() alone, so that a consumer with nothing to do wakes for
  // heartbeats, not a few times each (issue 17: "idle consumers must cost nothing").
  virtual bool idle() const { return false; }
  // When on_tick() should run next: every tick_period() while busy (task timeouts, drains and the
  // like are checked on that clock), at the link's next deadline while idle.
  TimePoint next_tick(TimePoint now) const {
    return idle() ? link_.next_deadline(now) : now + link_.tick_period();
  }
  // Done (every task has its result, or the pill was honoured) or failed: the loop may end.
  bool finished() const { return done() || link_.failed(); }
  BrokerLink& link() { return link_; }
  const BrokerLink& link() const { return link_; }

 protected:
  virtual bool done() const = 0;
  // For on_frame: true when `frame` is a batch of `kind` that reader_ took (its views are in
  // reader_); like any message, it shows the broker alive. False: decode it.
  bool read_in_place(std::string_view frame, BatchReader::Kind kind, TimePoint now) {
    if (reader_.read(frame, kProtocolVersion) != kind) return false;
    link_.on_batch(now);
    return true;
  }

  BrokerLink link_;     // the connection logic both clients share
  BatchReader reader_;  // reused for every batch; also makes views of batches decode() parsed
};

}  // namespace conveyor
