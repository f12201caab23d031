// producer::Session: a producer's protocol logic with no sockets (sans-IO), driven by the shell
// with envelopes, source payloads and clock ticks.
//
// It keeps every task without a final result (at most `window` of them) so that nothing is lost
// when the broker restarts or the link drops: after each Welcome it sends all of them again and
// the broker ignores those it already holds. It sends only within the broker's credit, drops
// duplicate results, acknowledges every result, and sends its pill once the source is exhausted
// and everything read has been sent. It is done when every task has a final result (its join()).
#pragma once

#include <cstdint>
#include <deque>
#include <memory>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include <spdlog/logger.h>

#include "common/backoff.hpp"
#include "common/clock.hpp"
#include "proto/conveyor.pb.h"

namespace conveyor::producer {

struct SessionConfig {
  std::string id;
  std::size_t window = 10000;  // tasks without a final result held at most
  Duration connect_timeout = milliseconds(10000);
  Duration reconnect_timeout = milliseconds(60000);
  std::string broker;  // for messages only
};

// Counts a producer reports in its summary.
struct Counts {
  std::uint64_t produced = 0;  // read from the source
  std::uint64_t ok = 0;
  std::uint64_t failed = 0;
  std::uint64_t dead = 0;
  std::uint64_t duplicates = 0;  // results dropped because the task was final already
  std::uint64_t done() const { return ok + failed + dead; }
};

class Session {
 public:
  enum class Phase { connecting, running, done, failed };

  Session(SessionConfig config, TimePoint now);

  // A new connection to the broker is up: say hello (a new session for the broker).
  void on_connect(TimePoint now);
  void on_envelope(wire::Envelope& envelope, TimePoint now);
  void on_tick(TimePoint now);

  // How many more payloads the source may hand over now (the window's free room).
  std::size_t source_room() const;
  void add_task(std::string payload);
  // The source is exhausted (or SIGTERM said to stop reading it): the pill follows the last task.
  void end_of_source();
  bool source_ended() const { return source_ended_; }

  // Emits tasks within credit, acks, the pill and the goodbye, as the state allows.
  void flush(TimePoint now);

  std::vector<wire::Envelope>& outbox() { return outbox_; }
  // Final results since the last call, in completion order; `seq` is set, `producer` is not.
  std::vector<wire::Result>& finished() { return finished_; }
  // The broker went silent or refused us: the shell should replace the socket, then on_connect().
  bool wants_new_connection() const { return wants_new_connection_; }

  // The last failed handshake's likely cause (HandshakeMonitor), cleared by a successful one; it
  // replaces the generic guess in the connect-timeout error.
  void on_handshake_failure(std::string cause) { handshake_failure_ = std::move(cause); }
  void on_handshake_succeeded() { handshake_failure_.clear(); }

  Phase phase() const { return phase_; }
  // Welcomed by the broker on the current connection.
  bool connected() const { return welcomed_; }
  const std::string& failure() const { return failure_; }
  const Counts& counts() const { return counts_; }
  std::size_t unfinished() const { return unfinished_.size(); }
  const std::string& id() const { return config_.id; }

 private:
  struct Pending {
    std::string payload;
  };

  void on_welcome(const wire::Welcome& welcome, TimePoint now);
  void on_results(wire::ResultBatch& batch);
  void on_error(const wire::Error& error, TimePoint now);
  void on_drained(const wire::Drained& drained);
  void send_tasks();
  // True when every unfinished task was sent in this session (drops final ones from unsent_).
  bool all_sent();
  void fail(std::string why);
  void lose_connection(TimePoint now, const std::string& why);
  void emit(wire::Envelope envelope);

  SessionConfig config_;
  std::shared_ptr<spdlog::logger> log_;
  Phase phase_ = Phase::connecting;
  std::string failure_;
  std::string handshake_failure_;
  Counts counts_;

  std::uint64_t next_seq_ = 0;
  std::unordered_map<std::uint64_t, Pending> unfinished_;
  std::deque<std::uint64_t> unsent_;  // seqs to send in this session, in order
  std::vector<std::uint64_t> acks_;
  std::uint64_t credit_ = 0;
  bool source_ended_ = false;
  bool pill_sent_ = false;  // in this session
  bool welcomed_ = false;
  bool ever_welcomed_ = false;
  bool wants_new_connection_ = false;

  Duration heartbeat_ = milliseconds(1000);
  std::uint32_t liveness_ = 3;
  std::uint64_t max_payload_bytes_ = 4u << 20;
  std::uint64_t max_message_bytes_ = 16u << 20;
  TimePoint now_;
  TimePoint started_;
  TimePoint hello_sent_{};
  // Hello retries: 2 s, then twice as long each time, at most 30 s (libzmq reconnects the TCP
  // link by itself meanwhile; a fresh socket is for a hello lost with a dying connection).
  Backoff hello_backoff_{std::chrono::seconds(2), std::chrono::seconds(30)};
  TimePoint hello_retry_at_{};
  TimePoint last_heard_{};
  TimePoint last_sent_{};
  TimePoint lost_since_{};

  std::vector<wire::Envelope> outbox_;
  std::vector<wire::Result> finished_;
};

}  // namespace conveyor::producer
