// consumer::Session: a consumer's protocol logic with no sockets (sans-IO).
//
// It announces its capacity (concurrency + prefetch), queues the tasks the broker sends, hands
// them out as work, and batches results back. A pill from the broker means: finish what you hold
// (the broker sends it only when nothing is in flight, so a pill never overtakes work), say
// goodbye, stop. SIGTERM is a local pill: capacity 0, unstarted tasks handed back, started ones
// finished and reported. A second signal hands everything back at once (abort()).
// It also decides how much work a worker gets at once, from the measured handler times.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <unordered_map>
#include <vector>

#include <spdlog/logger.h>

#include "conveyor/common/batch_reader.hpp"
#include "conveyor/common/batch_writer.hpp"
#include "conveyor/common/broker_link.hpp"
#include "conveyor/common/client_session.hpp"
#include "conveyor/common/clock.hpp"
#include "conveyor/common/delivery.hpp"
#include "conveyor/common/fifo.hpp"
#include "conveyor/consumer/failure_watch.hpp"
#include "conveyor/consumer/prefetch.hpp"
#include "conveyor/consumer/producer_ids.hpp"
#include "conveyor/consumer/report.hpp"
#include "conveyor/proto/conveyor.pb.h"

namespace conveyor::consumer {

struct SessionConfig : LinkConfig {
  std::uint32_t capacity = 1;            // tasks held at most: running + prefetched
  std::size_t workers = 1;               // --concurrency: how many tasks run at once
  bool auto_prefetch = false;            // --prefetch auto: capacity follows measured handler times
  std::optional<Duration> task_timeout;  // --task-timeout: a task running longer is given up
  std::string emit_to;                   // --emit-to
};

struct Counts {
  std::uint64_t received = 0;
  std::uint64_t ok = 0;
  std::uint64_t failed = 0;
  std::uint64_t handed_back = 0;
  std::uint64_t stale = 0;  // results of deliveries that ended with an earlier connection: unsent
  std::uint64_t too_large = 0;  // results over the broker's message limit, sent as failed
  std::uint64_t timed_out = 0;  // tasks cut short at --task-timeout
};

// Tasks handed to one worker at once; `id` names the batch when its results come back.
struct Work {
  std::uint64_t id = 0;
  std::vector<Delivery> tasks;
};

class Session final : public ClientSession {
 public:
  enum class Phase { connecting, running, finishing, done, failed };

  // How long past its --task-timeout a task may still be running before the consumer gives up on
  // its handler: exec: commands are killed at the timeout and report within this; a C++ handler
  // still running then does not watch its deadline and cannot be stopped.
  static constexpr Duration kStuckGrace = milliseconds(1000);

  // A handler faster than this per task gets batches (fewer thread hand-offs); a slower one, or
  // one not measured yet, one task at a time, so that tasks wait in our queue, where a stop can
  // still hand them back, and never behind a stuck batch-mate.
  static constexpr double kBatchBelowSeconds = 200e-6;
  static constexpr std::size_t kMaxWorkBatch = 256;

  Session(SessionConfig config, TimePoint now);

  void on_connect(TimePoint now) override;
  // Task batches are read in place (BatchReader): the tasks keep `owner`, not a copy.
  bool on_frame(std::string_view frame, const std::shared_ptr<const void>& owner,
                TimePoint now) override;
  void on_envelope(wire::Envelope& envelope, TimePoint now) override;
  void on_tick(TimePoint now) override;
  void flush(TimePoint now) override;
  // Welcomed, holding no task and no result, not stopping: only heartbeats need a tick.
  bool idle() const override;

  std::size_t pending() const { return pending_.size(); }
  std::size_t running() const { return running_tasks_; }
  std::size_t producer_ids() const { return producer_ids_.size(); }  // held now (for tests)
  // Work for one of `idle_workers` idle workers: a fair share of what is pending, batched only
  // for fast handlers. Nothing when no task is pending.
  // `room`: a spent vector (the caller's, from an earlier batch) whose storage the work's tasks
  // take when there is work, so that steady state does not allocate one per batch.
  std::optional<Work> next_work(std::size_t idle_workers, TimePoint now,
                                std::size_t max_tasks = SIZE_MAX,
                                std::vector<Delivery>* room = nullptr);
  // Up to `max` tasks, oldest first, now counted as started.
  Work take_work(std::size_t max, std::vector<Delivery>* room = nullptr);
  // The results of work `id` (one per task, same order), which took `elapsed` in the handler.
  void on_done(std::uint64_t id, std::vector<Report>& results, Duration elapsed = Duration::zero());

  // What a signal means: the first is stop(), the second abort().
  SignalAction on_signal(int signo, TimePoint now) override;
  // SIGTERM: stop taking tasks, hand back unstarted ones, finish and report started ones.
  void stop(TimePoint now);
  // Second signal: say goodbye now, handing back everything held (the broker requeues it).
  void abort(TimePoint now);

  // Tasks it may hold from now on (--prefetch auto adapts it); the broker is told at once.
  void set_capacity(std::uint32_t capacity);
  std::uint32_t capacity() const { return config_.capacity; }
  const HandlerTimes& handler_times() const { return times_; }

  Phase phase() const;
  // Once finished: 0, or 1 when it failed or gave up on a handler stuck past --task-timeout.
  int exit_status() const { return phase() == Phase::failed || !stuck_.empty() ? 1 : 0; }
  // Why it exits 1.
  const std::string& failure() const { return stuck_.empty() ? link_.failure() : stuck_; }
  // A handler thread ran past --task-timeout and could not be stopped: it is left behind.
  bool stuck() const { return !stuck_.empty(); }
  const Counts& counts() const { return counts_; }
  bool stopping() const { return stopping_; }

 private:
  bool done() const override { return done_; }
  struct Running {
    // Each task's producer, seq and delivery, in plain fields: a wire::TaskRef per task cost an
    // allocation or two, and a message is only needed for the rare goodbye that lists them.
    struct Held {
      std::string_view producer;  // held by producer_ids_
      std::uint64_t seq = 0;
      std::uint32_t attempt = 0;
    };
    std::vector<Held> refs;
    std::size_t payload_bytes = 0;
    std::uint64_t connection = 0;  // the connection it was received on
    TimePoint started{};
    bool given_up = false;  // reported timed out while its handler still runs
  };

  void on_tasks(std::span<const TaskView> tasks, const std::shared_ptr<const void>& owner);
  void on_pill();
  void on_lost();
  void keep_result(Report& result);
  void check_timeouts(TimePoint now);
  void give_up(Running& running, TimePoint now);
  void adapt_capacity();
  void hand_back_pending();
  void send_results();
  void forget_producer_ids();

  SessionConfig config_;
  std::shared_ptr<spdlog::logger> log_;
  Counts counts_;
  SignalCount signals_;
  HandlerTimes times_;
  FailureWatch failures_;
  std::string stuck_;  // why the consumer exits 1 after a handler stuck past --task-timeout
  std::optional<AutoPrefetch> auto_prefetch_;  // with --prefetch auto

  ProducerIds producer_ids_;  // what Delivery::producer() and Report::producer view
  Fifo<Delivery> pending_;    // received, not started
  std::unordered_map<std::uint64_t, Running> running_;  // by work id
  std::size_t running_tasks_ = 0;
  std::uint64_t next_work_id_ = 1;
  // Counts connections: a delivery belongs to the broker session of the connection it came on,
  // and its result means nothing to the next one (the broker requeued it when the old one ended).
  std::uint64_t connection_ = 0;
  std::vector<Report> results_;  // to send
  BatchWriter writer_;           // reused: its buffer is as large as a batch has been
  bool pilled_ = false;
  bool stopping_ = false;
  bool done_ = false;
};

}  // namespace conveyor::consumer
