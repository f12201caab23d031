// Property test for named queues and emitted tasks (DESIGN.md §7.4), on broker::Core alone:
// random emit trees over random stage graphs (chains, a crawler feeding itself, a fetch stage
// feeding a crawler), consumers that join late, crash with results unsent, hand back retries
// carrying part of their emits and repeat results already sent. Every schedule must end with the
// broker drained and every task of the tree reported to the producer exactly once, each consumer
// pilled once, after its queue was empty, and never given a task after its pill.
#include <gtest/gtest.h>

#include <map>
#include <random>
#include <set>

#include "conveyor/common/task.hpp"
#include "unit/broker_driver.hpp"

namespace conveyor::broker::testing {
namespace {

// Where each queue's consumers emit: queue i -> targets[i] (none when empty).
struct Topology {
  std::vector<std::string> queues;
  std::vector<std::string> emit_to;
};

const std::vector<Topology> kTopologies = {
    {{"a"}, {""}},                      // one stage, nothing emitted
    {{"a", "b"}, {"b", ""}},            // fetch -> store
    {{"a", "b", "c"}, {"b", "c", ""}},  // three stages
    {{"a"}, {"a"}},                     // a crawler
    {{"a", "b"}, {"b", "b"}},           // fetch, then crawl what it found
};

// The tree is a function of the task's id, so a redelivery emits the same children.
std::uint32_t children_of(const std::string& id, std::uint32_t fanout, std::uint32_t depth) {
  const auto level = static_cast<std::uint32_t>(std::count(id.begin(), id.end(), '/'));
  if (level >= depth) return 0;
  return static_cast<std::uint32_t>(std::hash<std::string>{}(id) % (fanout + 1));
}

std::string id_of(const wire::Task& task) {
  return task.id().empty() ? task_id(task.producer(), task.seq()) : task.id();
}

// A result as producer p1 receives it: its own tasks' carry no producer.
std::string id_of(const wire::Result& result) {
  return result.id().empty() ? task_id("p1", result.seq()) : result.id();
}

struct SimConsumer {
  std::string id;
  std::string queue;
  std::string emit_to;
  std::uint32_t capacity = 1;
  std::vector<wire::Task> held;
  std::vector<wire::Result> sent;  // to repeat later, as a network might
  bool connected = false;
  bool pilled = false;
  bool crashed = false;
};

class PipelineSim {
 public:
  explicit PipelineSim(std::uint32_t seed) : rng_(seed), b_(config_for(rng_)) {
    topology_ = kTopologies[pick(kTopologies.size())];
    roots_ = 1 + static_cast<std::uint32_t>(pick(12));
    fanout_ = static_cast<std::uint32_t>(pick(4));
    depth_ = 1 + static_cast<std::uint32_t>(pick(3));
    credit_ = b_.connect_producer_to("p1", topology_.queues[0]);
    for (std::size_t q = 0; q < topology_.queues.size(); ++q) {
      for (std::size_t n = 0, count = 1 + pick(2); n < count; ++n)
        add_consumer(q);
    }
    std::shuffle(consumers_.begin(), consumers_.end(), rng_);
  }

  void run() {
    for (int step = 0; step < 20000 && !b_.core().drained(); ++step) {
      act();
      b_.flush();
      read_messages();
    }
  }

  void check() {
    ASSERT_TRUE(b_.core().drained()) << "the run did not end: " << describe();
    EXPECT_EQ(reported_, expected_ids()) << "every task of the tree, each once";
    for (const auto& [id, count] : reports_)
      EXPECT_EQ(count, 1u) << id << " reported " << count << " times";
    for (const auto& c : consumers_) {
      if (c.connected && !c.crashed) {
        EXPECT_TRUE(c.pilled) << c.id << " was never pilled";
      }
    }
  }

 private:
  std::string describe() {
    std::string text = std::to_string(b_.core().tasks_held()) + " tasks held, credit " +
                       std::to_string(credit_) + ", roots sent " + std::to_string(sent_roots_) +
                       "/" + std::to_string(roots_) + "\n";
    for (const auto& q : b_.core().queue_views()) {
      text += "queue " + q.name + ": queued " + std::to_string(q.queued) + " delayed " +
              std::to_string(q.delayed) + " in flight " + std::to_string(q.in_flight) +
              " consumers " + std::to_string(q.consumers) + (q.finished ? " finished" : "") + "\n";
    }
    for (const auto& c : consumers_) {
      text += c.id + (c.connected ? " connected" : "") + (c.crashed ? " crashed" : "") +
              (c.pilled ? " pilled" : "") + " holds " + std::to_string(c.held.size()) + "\n";
    }
    return text;
  }

  static Config config_for(std::mt19937& rng) {
    Config config = test_config();
    config.queue_capacity = rng() % 2 ? 100 : 4;  // 4: every fan-out meets backpressure
    config.max_attempts = 100;                    // crashes and retries never make a task dead
    config.retry_delay = Duration::zero();
    return config;
  }

  const std::string& emit_target(const std::string& queue) const {
    const auto at = std::find(topology_.queues.begin(), topology_.queues.end(), queue);
    return topology_.emit_to[static_cast<std::size_t>(at - topology_.queues.begin())];
  }

  std::size_t pick(std::size_t n) {
    return std::uniform_int_distribution<std::size_t>(0, n - 1)(rng_);
  }

  void add_consumer(std::size_t q) {
    SimConsumer c;
    c.id = topology_.queues[q] + "-" + std::to_string(consumers_.size());
    c.queue = topology_.queues[q];
    c.emit_to = topology_.emit_to[q];
    c.capacity = 1 + static_cast<std::uint32_t>(pick(4));
    consumers_.push_back(std::move(c));
  }

  void act() {
    switch (pick(10)) {
      case 0:
        connect_one();
        break;
      case 1:
        crash_one();
        break;
      case 2:
        repeat_one();
        break;
      case 3:
        ack_results();
        break;
      default:
        complete_some();
        break;
    }
    send_roots();
  }

  void connect_one() {
    for (auto& c : consumers_) {
      if (c.connected) continue;
      auto envelope = hello(wire::CONSUMER, c.id, c.capacity);
      envelope.mutable_hello()->set_queue(c.queue);
      envelope.mutable_hello()->set_emit_to(c.emit_to);
      b_.to_backend(route_of(c.id), std::move(envelope));
      c.connected = true;
      const auto got = b_.take_consumer(c.id);
      ASSERT_FALSE(got.empty());
      // Refused only when it would emit into a queue already finished: it then takes no part.
      if (got.front().has_error()) {
        EXPECT_FALSE(c.emit_to.empty()) << c.id << " refused: " << got.front().error().text();
        c.crashed = true;
      }
      take_in(c, got);
      return;
    }
  }

  SimConsumer* live_one() {
    std::vector<SimConsumer*> live;
    for (auto& c : consumers_) {
      if (c.connected && !c.crashed && !c.pilled) live.push_back(&c);
    }
    if (live.empty()) return nullptr;
    return live[pick(live.size())];
  }

  // The consumer stops answering; the others and the producer keep their heartbeats, and the
  // broker declares it dead. A replacement with a new id takes its place.
  void crash_one() {
    SimConsumer* victim = live_one();
    if (victim == nullptr || crashes_ >= 3) return;
    ++crashes_;
    victim->crashed = true;
    const std::size_t q = static_cast<std::size_t>(
        std::find(topology_.queues.begin(), topology_.queues.end(), victim->queue) -
        topology_.queues.begin());
    b_.advance(std::chrono::milliseconds(3500));
    b_.to_frontend(route_of("p1"), heartbeat());
    for (const auto& c : consumers_) {
      if (c.connected && !c.crashed && !c.pilled) b_.to_backend(route_of(c.id), heartbeat());
    }
    b_.tick();
    add_consumer(q);
  }

  void repeat_one() {
    SimConsumer* c = live_one();
    if (c == nullptr || c->sent.empty()) return;
    b_.send_results(c->id, {c->sent[pick(c->sent.size())]});
  }

  wire::Result answer(const SimConsumer& c, const wire::Task& task, bool partial) {
    const std::string id = id_of(task);
    wire::Result r = result(task.producer(), task.seq(), wire::OK, id, task.attempt());
    const std::uint32_t count = c.emit_to.empty() ? 0 : children_of(id, fanout_, depth_);
    for (std::uint32_t k = 0; k < (partial ? count / 2 : count); ++k)
      r.add_emit(id + "/" + std::to_string(k));
    if (partial) {
      r.set_status(wire::FAILED);
      r.set_error("try again");
      r.set_retry(true);
    }
    return r;
  }

  void complete_some() {
    SimConsumer* c = live_one();
    if (c == nullptr || c->held.empty()) return;
    std::vector<wire::Result> results;
    const std::size_t n = 1 + pick(c->held.size());
    for (std::size_t i = 0; i < n; ++i) {
      const bool partial = pick(8) == 0;
      results.push_back(answer(*c, c->held[i], partial));
    }
    c->held.erase(c->held.begin(), c->held.begin() + static_cast<std::ptrdiff_t>(n));
    b_.send_results(c->id, results);
    c->sent.insert(c->sent.end(), results.begin(), results.end());
  }

  void send_roots() {
    std::vector<std::uint64_t> seqs;
    while (credit_ > 0 && sent_roots_ < roots_) {
      seqs.push_back(sent_roots_++);
      --credit_;
    }
    if (!seqs.empty()) b_.send_tasks("p1", seqs);
    if (sent_roots_ == roots_ && !pill_sent_) {
      b_.send_pill("p1", roots_);
      pill_sent_ = true;
    }
  }

  void ack_results() {
    if (!unacked_.empty()) b_.send_ack("p1", std::exchange(unacked_, {}));
  }

  void read_messages() {
    for (const auto& e : b_.take_producer("p1")) {
      if (e.has_credit()) credit_ += e.credit().grant();
      for (const auto& r : e.results().results()) {
        ++reports_[id_of(r)];
        reported_.insert(id_of(r));
        EXPECT_EQ(r.output(), id_of(r)) << "the result of another task";
        unacked_.push_back(r.seq());
      }
    }
    for (auto& c : consumers_) {
      if (c.connected && !c.crashed) read_consumer(c);
    }
  }

  void read_consumer(SimConsumer& c) { take_in(c, b_.take_consumer(c.id)); }

  void take_in(SimConsumer& c, const std::vector<wire::Envelope>& envelopes) {
    for (const auto& e : envelopes) {
      if (e.has_pill()) {
        EXPECT_FALSE(c.pilled) << c.id << " pilled twice";
        EXPECT_TRUE(c.held.empty()) << c.id << " pilled while it holds tasks of its queue";
        c.pilled = true;
      }
      for (const auto& t : e.tasks().tasks()) {
        EXPECT_FALSE(c.pilled) << c.id << " given " << id_of(t) << " after its pill";
        c.held.push_back(t);
      }
    }
  }

  std::set<std::string> expected_ids() const {
    std::set<std::string> ids;
    std::vector<std::pair<std::string, std::string>> todo;  // a task and its queue
    for (std::uint32_t s = 0; s < roots_; ++s)
      todo.emplace_back(task_id("p1", s), topology_.queues[0]);
    while (!todo.empty()) {
      auto [id, queue] = std::move(todo.back());
      todo.pop_back();
      const std::string& next = emit_target(queue);
      const std::uint32_t n = next.empty() ? 0 : children_of(id, fanout_, depth_);
      for (std::uint32_t k = 0; k < n; ++k)
        todo.emplace_back(id + "/" + std::to_string(k), next);
      ids.insert(std::move(id));
    }
    return ids;
  }

  std::mt19937 rng_;
  BrokerDriver b_;
  Topology topology_;
  std::uint32_t roots_ = 0;
  std::uint32_t fanout_ = 0;
  std::uint32_t depth_ = 0;
  std::uint64_t credit_ = 0;
  std::uint32_t sent_roots_ = 0;
  bool pill_sent_ = false;
  int crashes_ = 0;
  std::vector<SimConsumer> consumers_;
  std::vector<std::uint64_t> unacked_;
  std::map<std::string, std::size_t> reports_;
  std::set<std::string> reported_;
};

TEST(BrokerPipelineProperty, EveryScheduleEndsWithEveryTaskOnce) {
  for (std::uint32_t seed = 1; seed <= 400; ++seed) {
    SCOPED_TRACE("seed " + std::to_string(seed));
    PipelineSim sim(seed);
    sim.run();
    sim.check();
    if (::testing::Test::HasFailure()) break;  // one failing schedule is enough to read
  }
}

}  // namespace
}  // namespace conveyor::broker::testing
