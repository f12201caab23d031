// broker::Core: the broker's whole logic as a state machine with no sockets (sans-IO).
//
// The socket shell feeds it frames and clock ticks; it appends (side, route, envelope) triples to
// an outbox that the shell sends. Input changes state; flush() turns state into messages: task
// batches for consumers with credit, results for producers, credit grants, and pills once drained.
// Calling flush() once per poll round is what batches many tasks into one message under load
// without adding latency when idle.
#pragma once

#include <array>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include <spdlog/logger.h>

#include "conveyor/broker/config.hpp"
#include "conveyor/broker/pipeline.hpp"
#include "conveyor/broker/retry_delay.hpp"
#include "conveyor/broker/run.hpp"
#include "conveyor/broker/task_book.hpp"
#include "conveyor/common/batch_reader.hpp"
#include "conveyor/common/batch_writer.hpp"
#include "conveyor/common/clock.hpp"
#include "conveyor/common/codec.hpp"
#include "conveyor/common/signal_policy.hpp"

namespace conveyor::broker {

// Which of the broker's sockets a message came in on or goes out of.
enum class Side : std::uint8_t { frontend, backend };

// One message for the shell to send: to `route` (a ZeroMQ routing id) on `side`.
// Task and result batches come encoded (`batch`, its frame() finished), written straight from the
// broker's records; any other message is an `envelope` for the shell to encode.
struct Outgoing {
  Side side;
  std::string route;
  wire::Envelope envelope;
  std::optional<BatchWriter> batch = std::nullopt;
};

// Kinds of bad input, each counted (and exported as a metric by the shell).
enum class BadInput : std::uint8_t {
  frame_count,
  empty,
  too_large,
  malformed,
  version_mismatch,
  no_body,
  not_welcomed,
  wrong_socket,
  bad_request,
  invalid_hello,
  too_many_peers,
  credit_exceeded,
  not_holder,    // a result for a delivery the sender does not hold (§7.1)
  not_held,      // tasks handed back that the sender does not hold
  unsent_ack,    // an acknowledgement of a result not sent to that session
  out_of_run,    // a pill from a producer that is not in the current run
  duplicate_id,  // a hello under an id another live process holds
  bad_emit,      // emitted tasks from a consumer without --emit-to
  count_         // number of kinds
};
const char* to_string(BadInput kind);

// Totals since the broker started.
struct Stats {
  std::uint64_t tasks_received = 0;
  std::uint64_t ok = 0;
  std::uint64_t failed = 0;
  std::uint64_t dead = 0;
  std::uint64_t redelivered = 0;  // deliveries lost (consumer gone, timed out) and given again
  std::uint64_t retried = 0;      // failures scheduled to be tried again (--retry-delay)
  std::uint64_t timed_out = 0;    // deliveries cut short at a consumer's --task-timeout
  std::uint64_t duplicate_tasks = 0;
  std::uint64_t rejected_tasks = 0;
  std::array<std::uint64_t, static_cast<std::size_t>(BadInput::count_)> bad_input{};
};

// Time from the broker's receipt of a task to its final result, counted in fixed buckets. Plain
// data: the shell exports it (as a Prometheus histogram) without the core knowing how.
struct TaskTimeHistogram {
  // Upper bounds in seconds; counts has one more slot for what is above the last bound.
  static constexpr std::array<double, 13> bounds{0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5,
                                                 1,     2.5,  5,     10,   30,  60};
  // The same bounds in the clock's ticks: observe() runs once per task and compares integers.
  static constexpr std::array<Duration::rep, bounds.size()> bound_ticks = [] {
    std::array<Duration::rep, bounds.size()> ticks{};
    for (std::size_t i = 0; i < bounds.size(); ++i)
      ticks[i] =
          static_cast<Duration::rep>(bounds[i] * Duration::period::den / Duration::period::num);
    return ticks;
  }();
  std::array<std::uint64_t, bounds.size() + 1> counts{};  // per bucket, not cumulative
  double sum_seconds = 0;
  std::uint64_t count = 0;

  void observe(Duration elapsed);
};

// A connected consumer session, as the status command and the metrics show it.
struct ConsumerView {
  std::string id;
  std::string address;
  std::size_t in_flight = 0;
  std::uint32_t capacity = 0;
  std::uint64_t completed = 0;  // results it reported in this session
  Duration connected_for{};
  std::string queue;
  std::string emit_to;
};

// A queue, as the status command and the metrics show it.
struct QueueView {
  std::string name;
  std::size_t queued = 0;
  std::size_t delayed = 0;
  std::size_t in_flight = 0;
  std::size_t consumers = 0;
  std::vector<std::string> emits_to;
  bool finished = false;
};

// The seq of an emitted task has this bit set: the broker numbers them per root producer, apart
// from the producer's own seqs.
inline constexpr std::uint64_t kEmittedSeqBit = std::uint64_t{1} << 63;

// A producer id the broker knows (connected or not), as the status command shows it.
struct ProducerView {
  std::string id;
  bool connected = false;
  std::uint64_t sent = 0;           // tasks the broker accepted from it, since the broker started
  std::uint64_t received = 0;       // final results the broker gave it
  std::size_t results_pending = 0;  // final results it has not acknowledged yet
  bool pilled = false;              // sent its pill in the current run
  std::string queue;
};

struct FinalResult;
struct TaskFacts;

// What a final result says, whoever decided it: a consumer (OK or FAILED), or the broker (a task
// dead after --max-attempts, a payload over the limit). The views are copied into a FinalResult.
struct Outcome {
  wire::Status status = wire::STATUS_UNSPECIFIED;
  std::string_view output;
  std::string_view error;
  std::string_view consumer;  // empty when the broker decided

  static Outcome by_broker(wire::Status status, std::string_view error) {
    Outcome outcome;
    outcome.status = status;
    outcome.error = error;
    return outcome;
  }
};

// Hashes std::string keys and string_view lookups alike, so a lookup by a view into a frame does
// not build a std::string.
struct TransparentHash {
  using is_transparent = void;
  std::size_t operator()(std::string_view text) const {
    return std::hash<std::string_view>{}(text);
  }
};

class Core {
 public:
  Core(Config config, TimePoint now);
  ~Core();

  // A message from the socket on `side`: `route` is its routing id, `frames` what follows it,
  // `address` the peer's network address for logs. Never throws on bad input.
  void on_frames(Side side, std::string_view route, std::span<const std::string_view> frames,
                 std::string_view address, TimePoint now);
  // An already decoded envelope (the shell and unit tests use this directly).
  void on_envelope(Side side, std::string_view route, wire::Envelope& envelope,
                   std::string_view address, TimePoint now);
  // Heartbeats out, liveness checks in, producer timeouts.
  void on_tick(TimePoint now);
  // The shell could not deliver `message` (peer gone or its queue full): end that session.
  void on_undeliverable(const Outgoing& message, TimePoint now);
  // SIGTERM/SIGINT (§2.5): the first is begin_stop(); the second means stop now (the shell
  // exits; producers keep their tasks and send them again to the next broker).
  SignalAction on_signal(int signo, TimePoint now);
  // Take no new tasks, finish what is held, then pill consumers and stop.
  void begin_stop(TimePoint now);
  // Turns this round's state changes into messages in the outbox.
  void flush(TimePoint now);

  std::vector<Outgoing>& outbox() { return outbox_; }
  // The shell has sent `message`: a batch's buffer is kept (a few at most, none very large) and
  // refilled by a later flush() instead of allocated again. Anything else is dropped.
  void recycle(Outgoing&& message);
  // The same for a batch's buffer given back after a send without a copy (LentBuffers).
  void recycle(BatchWriter&& batch);
  std::size_t spare_batches() const { return spare_batches_.size(); }  // for tests
  // True once the broker should exit: drained with --exit-when-drained, or stopped.
  bool finished() const { return finished_; }
  bool drained() const { return run_.drained(); }
  bool stopping() const { return stopping_; }
  const Stats& stats() const { return stats_; }
  std::size_t queue_depth() const { return book_.queued(); }
  std::size_t delayed() const { return book_.delayed(); }  // retries waiting for their time
  std::size_t tasks_held() const { return book_.size(); }
  std::size_t in_flight() const;
  std::size_t consumers() const { return consumers_.size(); }
  std::size_t producers_connected() const { return producer_routes_.size(); }
  const Config& config() const { return config_; }
  // Final results so far: ok + failed + dead (what conveyor_tasks_completed_total exports).
  std::uint64_t completed() const { return stats_.ok + stats_.failed + stats_.dead; }
  const TaskTimeHistogram& task_times() const { return task_times_; }
  std::vector<ConsumerView> consumer_views(TimePoint now) const;
  std::vector<ProducerView> producer_views() const;
  std::vector<QueueView> queue_views() const;

 private:
  struct ConsumerSession;
  struct ProducerBook;
  struct QueueBook;

  // core_queues.cpp: named queues, emitted tasks, and pills stage by stage
  std::optional<std::uint32_t> queue_named(const std::string& name);
  std::optional<std::string> check_queues(Side side, const wire::Hello& hello);
  void declare_emit_edge(ConsumerSession& consumer);
  void emit_children(ConsumerSession& consumer, const TaskKey& key, TaskRecord& record,
                     const ResultView& result, TimePoint now);
  std::string id_of(const TaskKey& key, const TaskRecord& record) const;
  void finish_stages();
  bool emit_target_full(const ConsumerSession& consumer) const;
  void reset_stages();

  // core.cpp: sessions and message handling
  void end_oversized_session(Side side, std::string_view route);
  void on_producer_message(std::string_view route, wire::Envelope& envelope, TimePoint now);
  void on_consumer_message(std::string_view route, wire::Envelope& envelope, TimePoint now);
  void on_producer_hello(std::string_view route, const wire::Hello& hello, std::string_view address,
                         TimePoint now);
  void end_replaced_consumer(std::string_view route, const std::string& id);
  void on_consumer_hello(std::string_view route, const wire::Hello& hello, std::string_view address,
                         TimePoint now);
  void join_run(ProducerBook& producer, bool resuming, TimePoint now);
  void welcome_producer(ProducerBook& producer, TimePoint now);
  bool check_hello(Side side, std::string_view route, const wire::Hello& hello,
                   std::string_view address, TimePoint now);
  bool read_batch_in_place(Side side, std::string_view route, std::string_view frame,
                           std::string_view address, TimePoint now);
  bool welcomed(Side side, std::string_view route, const char* body, std::string_view address,
                TimePoint now);
  ProducerBook& heard_from_producer(std::string_view route, TimePoint now);
  ConsumerSession& heard_from_consumer(std::string_view route, TimePoint now);
  void on_tasks(ProducerBook& producer, std::span<TaskView> tasks, TimePoint now);
  void accept_task(ProducerBook& producer, const TaskView& task, TimePoint now);
  void fail_oversized(ProducerBook& producer, const TaskKey& key, std::size_t bytes);
  void count_accepted(ProducerBook& producer);
  void refuse_tasks(ProducerBook& producer, std::vector<std::uint64_t> seqs, bool too_many,
                    TimePoint now);
  void on_pill(ProducerBook& producer, const wire::Pill& pill, TimePoint now);
  void on_ack(ProducerBook& producer, std::span<const std::uint64_t> seqs, TimePoint now);
  struct LiveSession {
    std::uint64_t process;
    std::string route;
    std::string address;
  };
  bool refuse_duplicate_id(Side side, std::string_view route, const wire::Hello& hello,
                           std::string_view address, TimePoint now);
  std::optional<LiveSession> live_session_of(Side side, const std::string& id) const;
  void on_producer_goodbye(ProducerBook& producer, const wire::Goodbye& goodbye, TimePoint now);
  void on_results(ConsumerSession& consumer, std::span<ResultView> results, TimePoint now);
  TaskRecord* held_delivery(const ConsumerSession& consumer, const ResultView& result,
                            TaskKey& key);
  void on_result(ConsumerSession& consumer, const ResultView& result, TimePoint now);
  void retry_later(const TaskKey& key, TaskRecord& record, Outcome outcome, TimePoint now);
  void on_credit(ConsumerSession& consumer, const wire::Credit& credit, TimePoint now);
  void on_consumer_goodbye(ConsumerSession& consumer, const wire::Goodbye& goodbye, TimePoint now);

  // core_tasks.cpp: what happens to a task
  void finalize(const TaskKey& key, TaskRecord& record, const Outcome& outcome);
  void deliver_final(ProducerBook& producer, std::uint64_t seq, const Outcome& outcome,
                     const TaskFacts& facts, Duration task_time);
  void release_all(ConsumerSession& consumer,
                   const google::protobuf::RepeatedPtrField<wire::TaskRef>& released,
                   const google::protobuf::RepeatedPtrField<wire::TaskRef>& abandoned, bool ending,
                   TimePoint now);
  void release(ConsumerSession& consumer, const TaskKey& key, bool count_attempt);
  void lose_delivery(const TaskKey& key, TaskRecord& record, std::string_view why);
  void end_consumer(std::uint64_t serial, const std::string& why);
  // `gone`: the session ended (not replaced by a new one of the same process).
  void detach_producer(ProducerBook& producer, TimePoint now, bool gone = true);
  std::optional<TaskKey> key_of(std::string_view producer, std::uint64_t seq) const;
  std::uint32_t producer_slot(const std::string& id);

  // core_flush.cpp: turning state into messages
  struct DispatchSlot {  // a consumer with credit, and the batch being filled for it
    ConsumerSession* consumer;
    std::size_t credit;
    bool hot;  // is_hot: served first and refilled whole
    std::optional<BatchWriter> batch;
  };
  std::vector<DispatchSlot> consumers_with_credit(QueueBook& queue);
  bool is_hot(const ConsumerSession& consumer) const;
  void dispatch();
  void dispatch_queue(QueueBook& queue);
  bool deal(QueueBook& queue, DispatchSlot& slot);
  void deliver(DispatchSlot& slot, const TaskKey& key, TaskRecord& record);
  void send_results();
  void grant_credit();
  void grant_queue_credit(QueueBook& queue);
  void check_drained(TimePoint now);
  void declare_drained(TimePoint now);
  void drop_undeliverable_results();
  void check_producer_timeout(ProducerBook& producer, TimePoint now);
  // Whether consumers are done with: after a drain (in --service mode only after a stop too).
  bool consumers_released() const;
  void pill_consumers();
  void send_heartbeats(TimePoint now);
  void check_liveness(TimePoint now);
  wire::Summary run_summary(TimePoint now) const;

  // Outbox helpers: every message to a session goes through these, which keep heartbeat clocks.
  void send(ConsumerSession& consumer, wire::Envelope envelope);
  void send(ProducerBook& producer, wire::Envelope envelope);
  void send(ConsumerSession& consumer, BatchWriter&& batch);
  void send(ProducerBook& producer, BatchWriter&& batch);
  BatchWriter spare_batch(BatchWriter::Kind kind);
  wire::Envelope welcome() const;
  void reply_error(Side side, std::string_view route, wire::ErrorCode code, std::string text,
                   bool fatal = false);
  void count_bad(BadInput kind, Side side, std::string_view route, std::string_view address,
                 const std::string& detail, TimePoint now);

  Config config_;
  std::shared_ptr<spdlog::logger> log_;
  std::uint64_t instance_;
  TimePoint last_now_;
  TaskBook book_;
  RetryDelay retry_delay_;
  std::vector<Outgoing> outbox_;
  std::vector<BatchWriter> spare_batches_;  // recycle(): sent, to refill
  BatchReader batch_reader_;                // task and result batches, acks: in place (fast path)
  EnvelopeDecoder decoder_;  // everything else; reuses the messages of earlier batches
  Stats stats_;
  TaskTimeHistogram task_times_;

  std::vector<std::unique_ptr<ProducerBook>> producers_;  // by slot; slots live for the process
  std::unordered_map<std::string, std::uint32_t, TransparentHash, std::equal_to<>>
      producer_slots_;  // id -> slot; looked up by a result's string_view
  mutable std::optional<std::uint32_t> last_key_slot_;                   // key_of()'s last answer
  std::unordered_map<std::string, std::uint32_t> producer_routes_;       // route -> slot
  std::map<std::uint64_t, std::unique_ptr<ConsumerSession>> consumers_;  // serial -> session
  std::unordered_map<std::string, std::uint64_t> consumer_routes_;       // route -> serial
  std::uint64_t next_consumer_serial_ = 1;
  std::vector<std::unique_ptr<QueueBook>> queues_;  // by number; "default" is 0
  std::unordered_map<std::string, std::uint32_t> queue_numbers_;
  Pipeline pipeline_;  // the emit graph (§7.4)
  std::uint32_t grant_cursor_ = 0;
  std::vector<std::uint32_t> results_pending_;  // producer slots with results to send

  TimePoint run_started_;
  Stats run_start_stats_;
  Run run_;  // the poison-pill rules (DESIGN.md §2) and every producer's part in the run
  SignalCount signals_;
  bool stopping_ = false;
  bool finished_ = false;
  std::array<TimePoint, static_cast<std::size_t>(BadInput::count_)> last_bad_log_{};
  std::array<std::uint64_t, static_cast<std::size_t>(BadInput::count_)> bad_suppressed_{};
};

}  // namespace conveyor::broker
