// consumer::Session: a consumer's protocol logic with no sockets (sans-IO).
//
// It announces its capacity (concurrency + prefetch), queues the tasks the broker sends, hands
// them out as work, and batches results back. A pill from the broker means: finish what you hold
// (the broker sends it only when nothing is in flight, so a pill never overtakes work), say
// goodbye, stop. SIGTERM is a local pill: capacity 0, unstarted tasks handed back, started ones
// finished and reported. A second signal hands everything back at once (abort()).
#pragma once

#include <cstdint>
#include <deque>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include <spdlog/logger.h>

#include "common/backoff.hpp"
#include "common/clock.hpp"
#include "proto/conveyor.pb.h"

namespace conveyor::consumer {

struct SessionConfig {
  std::string id;
  std::uint32_t capacity = 1;
  Duration connect_timeout = milliseconds(10000);
  Duration reconnect_timeout = milliseconds(60000);
  std::string broker;  // for messages only
};

struct Counts {
  std::uint64_t received = 0;
  std::uint64_t ok = 0;
  std::uint64_t failed = 0;
  std::uint64_t handed_back = 0;
};

// Tasks handed to one worker at once; `id` names the batch when its results come back.
struct Work {
  std::uint64_t id = 0;
  std::vector<wire::Task> tasks;
};

class Session {
 public:
  enum class Phase { connecting, running, finishing, done, failed };

  Session(SessionConfig config, TimePoint now);

  void on_connect(TimePoint now);
  void on_envelope(wire::Envelope& envelope, TimePoint now);
  void on_tick(TimePoint now);

  std::size_t pending() const { return pending_.size(); }
  std::size_t running() const { return running_tasks_; }
  // Up to `max` tasks, oldest first, now counted as started.
  Work take_work(std::size_t max);
  // The results of work `id` (one per task, same order).
  void on_done(std::uint64_t id, std::vector<wire::Result>& results);

  // SIGTERM: stop taking tasks, hand back unstarted ones, finish and report started ones.
  void stop(TimePoint now);
  // Second signal: say goodbye now, handing back everything held (the broker requeues it).
  void abort(TimePoint now);

  // Tasks it may hold from now on (--prefetch auto adapts it); the broker is told at once.
  void set_capacity(std::uint32_t capacity);
  std::uint32_t capacity() const { return config_.capacity; }

  void flush(TimePoint now);
  std::vector<wire::Envelope>& outbox() { return outbox_; }
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
  bool stopping() const { return stopping_; }

 private:
  void on_welcome(const wire::Welcome& welcome, TimePoint now);
  void on_tasks(wire::TaskBatch& batch);
  void on_error(const wire::Error& error, TimePoint now);
  void hand_back_pending();
  void lose_connection(TimePoint now, const std::string& why);
  void fail(std::string why);
  void emit(wire::Envelope envelope);

  SessionConfig config_;
  std::shared_ptr<spdlog::logger> log_;
  Phase phase_ = Phase::connecting;
  std::string failure_;
  std::string handshake_failure_;
  Counts counts_;

  std::deque<wire::Task> pending_;                                         // received, not started
  std::unordered_map<std::uint64_t, std::vector<wire::TaskRef>> running_;  // by work id
  std::size_t running_tasks_ = 0;
  std::uint64_t next_work_id_ = 1;
  std::vector<wire::Result> results_;  // to send
  bool pilled_ = false;
  bool stopping_ = false;
  bool welcomed_ = false;
  bool ever_welcomed_ = false;
  bool wants_new_connection_ = false;

  Duration heartbeat_ = milliseconds(1000);
  std::uint32_t liveness_ = 3;
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
};

}  // namespace conveyor::consumer
