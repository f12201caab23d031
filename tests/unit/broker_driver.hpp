// A test driver for broker::Core: it owns a Core, a hand-driven clock and the messages the Core
// has sent but the test has not looked at yet. Peers are named by id; each one's route is "r-<id>"
// unless a test picks another (to model a reconnect from a new connection).
//
// Typical use:
//   BrokerDriver b;
//   const auto grant = b.connect_producer("p1");   // hello, flush, Welcome + Credit read
//   b.connect_consumer("c1", 4);
//   b.send_tasks("p1", {0, 1, 2});
//   b.flush();
//   auto tasks = b.take_tasks("c1");
#pragma once

#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <initializer_list>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "conveyor/broker/core.hpp"
#include "conveyor/common/clock.hpp"
#include "conveyor/common/codec.hpp"
#include "conveyor/common/logging.hpp"

namespace conveyor::broker::testing {

// A fixed, non-zero start so that no test depends on the clock's epoch.
inline const TimePoint kStart = TimePoint{} + std::chrono::hours(1);

// Small numbers that make every limit easy to reach in a test.
inline Config test_config() {
  Config config;
  config.queue_capacity = 100;
  config.heartbeat = milliseconds(1000);
  config.liveness = 3;
  config.max_attempts = 3;
  return config;
}

inline std::string route_of(std::string_view id) {
  return "r-" + std::string(id);
}

inline std::uint64_t bad(const Core& core, BadInput kind) {
  return core.stats().bad_input[static_cast<std::size_t>(kind)];
}

inline std::uint64_t bad_total(const Core& core) {
  std::uint64_t total = 0;
  for (const auto n : core.stats().bad_input)
    total += n;
  return total;
}

// ---- envelope builders -------------------------------------------------------------------------

// The process a test peer's hellos come from: one per id unless a test says otherwise.
inline std::uint64_t process_of(std::string_view id) {
  return std::hash<std::string_view>{}(id) | 1;
}

inline wire::Envelope hello(wire::Role role, std::string_view id, std::uint32_t capacity = 0) {
  wire::Envelope envelope;
  envelope.set_version(kProtocolVersion);
  auto* h = envelope.mutable_hello();
  h->set_role(role);
  h->set_id(std::string(id));
  h->set_session(7);
  h->set_process(process_of(id));
  h->set_capacity(capacity);
  h->set_agent("broker-core-test");
  return envelope;
}

inline wire::Envelope task_batch(const std::vector<std::uint64_t>& seqs,
                                 const std::string& payload_prefix = "payload-") {
  wire::Envelope envelope;
  envelope.set_version(kProtocolVersion);
  auto* batch = envelope.mutable_tasks();
  for (const auto seq : seqs) {
    auto* task = batch->add_tasks();
    task->set_seq(seq);
    task->set_payload(payload_prefix + std::to_string(seq));
  }
  return envelope;
}

inline wire::Envelope pill(std::uint64_t tasks) {
  wire::Envelope envelope;
  envelope.set_version(kProtocolVersion);
  envelope.mutable_pill()->set_tasks(tasks);
  return envelope;
}

inline wire::Envelope ack(const std::vector<std::uint64_t>& seqs) {
  wire::Envelope envelope;
  envelope.set_version(kProtocolVersion);
  for (const auto seq : seqs)
    envelope.mutable_ack()->add_seqs(seq);
  return envelope;
}

inline wire::Envelope heartbeat() {
  wire::Envelope envelope;
  envelope.set_version(kProtocolVersion);
  envelope.mutable_heartbeat();
  return envelope;
}

// A consumer's result for delivery `attempt` of producer:seq.
inline wire::Result result(std::string_view producer, std::uint64_t seq,
                           wire::Status status = wire::OK, std::string_view output = "out",
                           std::uint32_t attempt = 1) {
  wire::Result r;
  r.set_producer(std::string(producer));
  r.set_seq(seq);
  r.set_status(status);
  r.set_attempts(attempt);
  if (status == wire::OK) {
    r.set_output(std::string(output));
  } else {
    r.set_error("handler said no");
  }
  return r;
}

inline wire::Envelope result_batch(const std::vector<wire::Result>& results) {
  wire::Envelope envelope;
  envelope.set_version(kProtocolVersion);
  auto* batch = envelope.mutable_results();
  for (const auto& r : results)
    *batch->add_results() = r;
  return envelope;
}

inline wire::TaskRef ref(std::string_view producer, std::uint64_t seq) {
  wire::TaskRef r;
  r.set_producer(std::string(producer));
  r.set_seq(seq);
  return r;
}

inline wire::Envelope consumer_credit(std::optional<std::uint32_t> capacity,
                                      const std::vector<wire::TaskRef>& released = {}) {
  wire::Envelope envelope;
  envelope.set_version(kProtocolVersion);
  auto* credit = envelope.mutable_credit();
  if (capacity) credit->set_capacity(*capacity);
  for (const auto& r : released)
    *credit->add_released() = r;
  return envelope;
}

inline wire::Envelope goodbye(const std::vector<wire::TaskRef>& released = {},
                              const std::vector<wire::TaskRef>& abandoned = {}) {
  wire::Envelope envelope;
  envelope.set_version(kProtocolVersion);
  auto* g = envelope.mutable_goodbye();
  g->set_reason("test");
  for (const auto& r : released)
    *g->add_released() = r;
  for (const auto& r : abandoned)
    *g->add_abandoned() = r;
  return envelope;
}

// 0, 1, ..., n-1.
inline std::vector<std::uint64_t> seq_range(std::uint64_t from, std::uint64_t to) {
  std::vector<std::uint64_t> seqs;
  for (auto s = from; s < to; ++s)
    seqs.push_back(s);
  return seqs;
}

// ---- outbox readers ----------------------------------------------------------------------------

inline std::size_t count_body(const std::vector<wire::Envelope>& envelopes,
                              wire::Envelope::BodyCase body) {
  return static_cast<std::size_t>(std::count_if(
      envelopes.begin(), envelopes.end(), [&](const auto& e) { return e.body_case() == body; }));
}

inline std::vector<wire::Task> tasks_in(const std::vector<wire::Envelope>& envelopes) {
  std::vector<wire::Task> tasks;
  for (const auto& e : envelopes) {
    if (!e.has_tasks()) continue;
    tasks.insert(tasks.end(), e.tasks().tasks().begin(), e.tasks().tasks().end());
  }
  return tasks;
}

inline std::vector<wire::Result> results_in(const std::vector<wire::Envelope>& envelopes) {
  std::vector<wire::Result> results;
  for (const auto& e : envelopes) {
    if (!e.has_results()) continue;
    results.insert(results.end(), e.results().results().begin(), e.results().results().end());
  }
  return results;
}

inline std::vector<wire::Error> errors_in(const std::vector<wire::Envelope>& envelopes) {
  std::vector<wire::Error> errors;
  for (const auto& e : envelopes) {
    if (e.has_error()) errors.push_back(e.error());
  }
  return errors;
}

// Sum of the credit grants in `envelopes`.
inline std::uint64_t granted(const std::vector<wire::Envelope>& envelopes) {
  std::uint64_t total = 0;
  for (const auto& e : envelopes) {
    if (e.has_credit()) total += e.credit().grant();
  }
  return total;
}

template <typename T>
std::vector<std::uint64_t> seqs_of(const std::vector<T>& items) {
  std::vector<std::uint64_t> seqs;
  for (const auto& item : items)
    seqs.push_back(item.seq());
  return seqs;
}

inline std::vector<std::uint32_t> attempts_of(const std::vector<wire::Task>& tasks) {
  std::vector<std::uint32_t> attempts;
  for (const auto& t : tasks)
    attempts.push_back(t.attempt());
  return attempts;
}

inline std::vector<std::uint64_t> rejected_seqs(const wire::Error& error) {
  return {error.rejected_seqs().begin(), error.rejected_seqs().end()};
}

// ---- the driver --------------------------------------------------------------------------------

class BrokerDriver {
 public:
  explicit BrokerDriver(Config config = test_config())
      : now_(kStart), core_(std::move(config), kStart) {
    // Bad-input and lifecycle lines are the behaviour under test, not something to read.
    logger("broker")->set_level(spdlog::level::off);
  }

  Core& core() { return core_; }
  TimePoint now() const { return now_; }
  void advance(Duration by) { now_ += by; }

  // ---- input ----

  void envelope(Side side, std::string_view route, wire::Envelope e) {
    if (e.has_tasks() || e.has_results() || e.has_ack()) {
      // Batches and acks arrive as the shell hands them over, as bytes: through the in-place
      // reader, or the decoder for what it leaves (headers, emits, what the other side sends).
      e.set_version(kProtocolVersion);
      frames(side, route, {e.SerializeAsString()});
      return;
    }
    core_.on_envelope(side, route, e, "127.0.0.1:1", now_);
    collect();
  }
  void to_frontend(std::string_view route, wire::Envelope e) {
    envelope(Side::frontend, route, std::move(e));
  }
  void to_backend(std::string_view route, wire::Envelope e) {
    envelope(Side::backend, route, std::move(e));
  }
  // Raw frames after the routing id, through the decoder.
  void frames(Side side, std::string_view route, const std::vector<std::string>& frames) {
    std::vector<std::string_view> views(frames.begin(), frames.end());
    core_.on_frames(side, route, views, "127.0.0.1:1", now_);
    collect();
  }

  void producer_hello(std::string_view id) { producer_hello_on(id, route_of(id)); }
  // `resuming`: the producer process was welcomed before (a reconnect, not a new process).
  void producer_hello_on(std::string_view id, std::string_view route, bool resuming = true) {
    auto envelope = hello(wire::PRODUCER, id);
    envelope.mutable_hello()->set_resuming(resuming);
    to_frontend(route, std::move(envelope));
  }
  // A consumer of `queue` that emits into `emit_to` (empty: none), welcomed.
  void connect_consumer_to(std::string_view id, std::uint32_t capacity, std::string_view queue,
                           std::string_view emit_to = "") {
    auto envelope = hello(wire::CONSUMER, id, capacity);
    envelope.mutable_hello()->set_queue(std::string(queue));
    envelope.mutable_hello()->set_emit_to(std::string(emit_to));
    to_backend(route_of(id), std::move(envelope));
    const auto got = take_consumer(id);
    ASSERT_FALSE(got.empty());
    ASSERT_TRUE(got.front().has_welcome()) << "no Welcome for consumer " << id;
  }
  // A producer whose tasks go to `queue`; the credit granted.
  std::uint64_t connect_producer_to(std::string_view id, std::string_view queue) {
    auto envelope = hello(wire::PRODUCER, id);
    envelope.mutable_hello()->set_queue(std::string(queue));
    to_frontend(route_of(id), std::move(envelope));
    flush();
    return granted(take_producer(id));
  }
  void consumer_hello(std::string_view id, std::uint32_t capacity) {
    consumer_hello_on(id, capacity, route_of(id));
  }
  void consumer_hello_on(std::string_view id, std::uint32_t capacity, std::string_view route) {
    to_backend(route, hello(wire::CONSUMER, id, capacity));
  }

  // Producer `id` sends tasks with these seqs (payload "payload-<seq>").
  void send_tasks(std::string_view id, const std::vector<std::uint64_t>& seqs) {
    to_frontend(route_of(id), task_batch(seqs));
  }
  void send_pill(std::string_view id, std::uint64_t tasks) {
    to_frontend(route_of(id), pill(tasks));
  }
  void send_ack(std::string_view id, const std::vector<std::uint64_t>& seqs) {
    to_frontend(route_of(id), ack(seqs));
  }
  // Consumer `consumer` reports results.
  void send_results(std::string_view consumer, const std::vector<wire::Result>& results) {
    to_backend(route_of(consumer), result_batch(results));
  }
  // Consumer `consumer` reports `status` for each of `tasks` (as it received them).
  void complete(std::string_view consumer, const std::vector<wire::Task>& tasks,
                wire::Status status = wire::OK) {
    std::vector<wire::Result> results;
    for (const auto& t : tasks)
      results.push_back(result(t.producer(), t.seq(), status, "done-" + t.payload(), t.attempt()));
    send_results(consumer, results);
  }

  void flush() {
    core_.flush(now_);
    collect();
  }
  void tick() {
    core_.on_tick(now_);
    collect();
  }
  void begin_stop() {
    core_.begin_stop(now_);
    collect();
  }
  void undeliverable(Side side, std::string_view route) {
    Outgoing message{side, std::string(route), heartbeat()};
    core_.on_undeliverable(message, now_);
    collect();
  }

  // ---- composite steps ----

  // Hello + flush; reads the Welcome and returns the credit granted.
  std::uint64_t connect_producer(std::string_view id) {
    producer_hello(id);
    flush();
    const auto got = take_producer(id);
    EXPECT_GE(got.size(), 1u);
    EXPECT_TRUE(!got.empty() && got.front().has_welcome()) << "no Welcome for producer " << id;
    return granted(got);
  }
  void connect_consumer(std::string_view id, std::uint32_t capacity) {
    consumer_hello(id, capacity);
    const auto got = take_consumer(id);
    ASSERT_EQ(got.size(), 1u);
    ASSERT_TRUE(got.front().has_welcome()) << "no Welcome for consumer " << id;
  }

  // Flushes, then hands consumer `id` what it received, completing nothing.
  std::vector<wire::Task> flush_and_take_tasks(std::string_view consumer) {
    flush();
    return take_tasks(consumer);
  }

  // ---- output ----

  // Every message sent to `route` on `side` since the last take, in order; removed from pending.
  std::vector<wire::Envelope> take(Side side, std::string_view route) {
    std::vector<wire::Envelope> taken;
    std::vector<Outgoing> rest;
    for (auto& out : pending_) {
      if (out.side == side && out.route == route) {
        taken.push_back(std::move(out.envelope));
      } else {
        rest.push_back(std::move(out));
      }
    }
    pending_ = std::move(rest);
    return taken;
  }
  std::vector<wire::Envelope> take_producer(std::string_view id) {
    return take(Side::frontend, route_of(id));
  }
  std::vector<wire::Envelope> take_consumer(std::string_view id) {
    return take(Side::backend, route_of(id));
  }
  std::vector<wire::Task> take_tasks(std::string_view consumer) {
    return tasks_in(take_consumer(consumer));
  }
  std::vector<wire::Result> take_results(std::string_view producer) {
    return results_in(take_producer(producer));
  }
  // Reads producer `id`'s results and acknowledges them all, as a producer does once written.
  std::vector<wire::Result> take_and_ack_results(std::string_view producer) {
    auto results = take_results(producer);
    if (!results.empty()) send_ack(producer, seqs_of(results));
    return results;
  }
  // Everything not taken yet (and forgets it).
  std::vector<Outgoing> take_all() { return std::exchange(pending_, {}); }
  const std::vector<Outgoing>& pending() const { return pending_; }

 private:
  // Like the shell: what the core sent is kept (a copy, as the wire would) and the message goes
  // back to the core for reuse, so every test also runs on recycled task and result batches.
  void collect() {
    auto& outbox = core_.outbox();
    for (auto& out : outbox) {
      if (out.batch) {  // read back as the peer would, so tests see envelopes of every kind
        EXPECT_FALSE(decode(out.batch->frame(), std::size_t{1} << 30, out.envelope))
            << "an encoded batch that does not parse";
      }
      pending_.push_back(Outgoing{out.side, out.route, out.envelope, std::nullopt});
      core_.recycle(std::move(out));
    }
    outbox.clear();
  }

  TimePoint now_;
  Core core_;
  std::vector<Outgoing> pending_;
};

}  // namespace conveyor::broker::testing
