// broker::Core: poison pills (DESIGN.md §2). The rules live in broker::Run (broker/run.hpp); these
// tests run them through the whole core. Each rule, and the tests that fail when it is broken:
//
//   §2.1 a pill means no more; one producer is one pill; --producers N is a floor, not a cap
//        BrokerCorePill.ProducersFlagWaitsForNPills, .WithoutProducersFlagEveryProducerThatSaid-
//        HelloMustPill, .ProducersFlagAlsoWaitsForProducersBeyondN, .SecondPillFromTheSame-
//        ProducerCountsOnce, .DrainNeedsAtLeastOneProducer; BrokerRun.Rule1*
//   §2.2 drained = every expected pill + no task anywhere + every result acknowledged; then a
//        pill to each consumer and a Drained to each producer; --exit-when-drained exits
//        .LoneProducerRunDrainsOnceEveryResultIsAcknowledged, .PillWaitsForQueuedTasks,
//        .PillWaitsForInFlightTasks, .DrainWaitsForEveryResultToBeAcknowledged,
//        .DrainWaitsForACopyStillRunningElsewhere, .DrainSendsExactlyOnePillPerConsumerAnd-
//        OneDrainedPerProducer, .DrainHappensExactlyOnce, .FinishedOnlyWithExitWhenDrained,
//        .NewProducerAfterTheDrainStartsANewRun; BrokerRun.Rule2*;
//        BrokerCoreLiveness.ProducerTimeoutCountsAVanishedProducerAsPilled
//   §2.3 a pill never overtakes work: the consumer finishes and reports what it holds first
//        .PillWaitsForInFlightTasks; ConsumerSession.PillSaysGoodbyeOnlyAfterRunningWorkIs-
//        Reported, .PillWaitsForTasksNotYetStarted
//   §2.4 a consumer connecting after the drain is pilled at once
//        .ConsumerConnectingAfterTheDrainGetsWelcomeThenPill; BrokerRun.Rule4*;
//        BrokerCoreService.ConsumerJoiningAfterTheDrainIsWelcomedWithoutAPill
//   §2.5 SIGTERM/SIGINT is a local pill, a second signal stops at once
//        BrokerCoreStop.*, BrokerRun.Rule5AStopDrainsWithoutWaitingForPills;
//        ProducerSession.TheFirstSignalStopsAnIdleReaderAndThePillFollowsWhatWasRead,
//        .TheSecondSignalStopsAtOnce; ConsumerSession.TheFirstSignalStopsTakingWorkAndThe-
//        SecondHandsEverythingBackAtOnce; SignalCount.TheFirstDrainsEveryLaterOneStopsNow
//   §2.6 every count exact (the task_done() bug)
//        .DrainedSummaryCountsAreExact, .BusyRunDrainsExactlyOnceWithEveryTaskAnsweredOnce
#include <gtest/gtest.h>

#include <map>
#include <set>

#include "unit/broker_driver.hpp"

namespace conveyor::broker::testing {
namespace {

std::size_t pills(const std::vector<wire::Envelope>& envelopes) {
  return count_body(envelopes, wire::Envelope::kPill);
}

std::vector<wire::Drained> drained_in(const std::vector<wire::Envelope>& envelopes) {
  std::vector<wire::Drained> out;
  for (const auto& e : envelopes) {
    if (e.has_drained()) out.push_back(e.drained());
  }
  return out;
}

// Producer `p` sends seqs [0, n) and its pill; consumer `c` runs them; `p` acknowledges.
void run_producer(BrokerDriver& b, const std::string& p, const std::string& c, std::uint64_t n) {
  b.send_tasks(p, seq_range(0, n));
  b.send_pill(p, n);
  b.complete(c, b.flush_and_take_tasks(c));
  b.flush();
  ASSERT_EQ(b.take_and_ack_results(p).size(), n);
}

TEST(BrokerCorePill, LoneProducerRunDrainsOnceEveryResultIsAcknowledged) {
  BrokerDriver b;
  b.connect_producer("p1");
  b.connect_consumer("c1", 10);
  b.send_tasks("p1", {0, 1, 2});
  b.send_pill("p1", 3);
  b.complete("c1", b.flush_and_take_tasks("c1"));
  b.flush();
  ASSERT_EQ(b.take_results("p1").size(), 3u);
  EXPECT_FALSE(b.core().drained()) << "results sent but not acknowledged";
  EXPECT_EQ(pills(b.take_consumer("c1")), 1u)
      << "§7.4: no task can reach its queue any more: the consumer's stage is over";

  b.send_ack("p1", {0, 1, 2});
  b.flush();
  EXPECT_TRUE(b.core().drained());
  EXPECT_FALSE(b.core().finished()) << "no --exit-when-drained: it keeps serving";
  EXPECT_EQ(pills(b.take_consumer("c1")), 0u) << "one pill per consumer";
  auto drained = drained_in(b.take_producer("p1"));
  ASSERT_EQ(drained.size(), 1u);
  EXPECT_EQ(drained[0].summary().tasks(), 3u);
  EXPECT_EQ(drained[0].summary().ok(), 3u);
  EXPECT_FALSE(drained[0].broker_stopping());
}

TEST(BrokerCorePill, PillWaitsForQueuedTasks) {
  BrokerDriver b;
  b.connect_producer("p1");
  b.send_tasks("p1", {0, 1, 2});
  b.send_pill("p1", 3);
  b.flush();
  b.flush();
  EXPECT_FALSE(b.core().drained());
  EXPECT_EQ(b.core().queue_depth(), 3u);
  EXPECT_TRUE(drained_in(b.take_producer("p1")).empty());
}

TEST(BrokerCorePill, PillWaitsForInFlightTasks) {
  BrokerDriver b;
  b.connect_producer("p1");
  b.connect_consumer("c1", 10);
  b.send_tasks("p1", {0, 1});
  b.send_pill("p1", 2);
  auto tasks = b.flush_and_take_tasks("c1");
  ASSERT_EQ(tasks.size(), 2u);
  b.complete("c1", {tasks[0]});
  b.flush();
  b.take_and_ack_results("p1");
  b.flush();
  EXPECT_FALSE(b.core().drained()) << "task 1 is still in flight";
  EXPECT_EQ(pills(b.take_consumer("c1")), 0u) << "a pill never overtakes work";

  b.complete("c1", {tasks[1]});
  b.flush();
  b.take_and_ack_results("p1");
  b.flush();
  EXPECT_TRUE(b.core().drained());
  EXPECT_EQ(pills(b.take_consumer("c1")), 1u);
}

TEST(BrokerCorePill, DrainWaitsForEveryResultToBeAcknowledged) {
  BrokerDriver b;
  b.connect_producer("p1");
  b.connect_consumer("c1", 10);
  b.send_tasks("p1", {0, 1, 2});
  b.send_pill("p1", 3);
  b.complete("c1", b.flush_and_take_tasks("c1"));
  b.flush();
  b.take_results("p1");
  b.send_ack("p1", {0, 2});
  b.flush();
  EXPECT_FALSE(b.core().drained());
  b.send_ack("p1", {1});
  b.flush();
  EXPECT_TRUE(b.core().drained());
}

TEST(BrokerCorePill, DrainWaitsForACopyStillRunningElsewhere) {
  BrokerDriver b;
  b.connect_producer("p1");
  b.connect_consumer("c1", 1);
  b.send_tasks("p1", {0});
  b.send_pill("p1", 1);
  auto first = b.flush_and_take_tasks("c1");
  ASSERT_EQ(first.size(), 1u);
  // c1 is lost; c2 runs the task again; c1 comes back and reports its first copy, refused.
  b.undeliverable(Side::backend, route_of("c1"));
  b.connect_consumer("c2", 1);
  const auto second = b.flush_and_take_tasks("c2");
  ASSERT_EQ(second.size(), 1u);
  b.connect_consumer("c1", 1);
  b.complete("c1", first);
  b.flush();
  EXPECT_TRUE(b.take_results("p1").empty());
  EXPECT_FALSE(b.core().drained()) << "c2 still runs the delivery that counts";
  b.complete("c2", second);
  b.flush();
  ASSERT_EQ(b.take_and_ack_results("p1").size(), 1u);
  b.flush();
  EXPECT_TRUE(b.core().drained());
}

TEST(BrokerCorePill, ProducersFlagWaitsForNPills) {
  Config config = test_config();
  config.expected_producers = 2;
  config.exit_when_drained = true;
  BrokerDriver b(config);
  b.connect_producer("p1");
  b.connect_consumer("c1", 10);
  run_producer(b, "p1", "c1", 3);
  b.flush();
  EXPECT_FALSE(b.core().drained()) << "the second producer has not even connected";
  EXPECT_FALSE(b.core().finished());
  EXPECT_EQ(pills(b.take_consumer("c1")), 0u);

  b.connect_producer("p2");
  run_producer(b, "p2", "c1", 2);
  b.flush();
  EXPECT_TRUE(b.core().drained());
  EXPECT_TRUE(b.core().finished());
  EXPECT_EQ(pills(b.take_consumer("c1")), 1u);
}

TEST(BrokerCorePill, WithoutProducersFlagEveryProducerThatSaidHelloMustPill) {
  BrokerDriver b;
  b.producer_hello("p1");
  b.producer_hello("p2");
  b.connect_consumer("c1", 10);
  b.flush();
  b.take_all();
  run_producer(b, "p1", "c1", 2);
  b.flush();
  EXPECT_FALSE(b.core().drained());
  b.send_pill("p2", 0);
  b.flush();
  EXPECT_TRUE(b.core().drained());
}

TEST(BrokerCorePill, ProducersFlagAlsoWaitsForProducersBeyondN) {
  Config config = test_config();
  config.expected_producers = 1;
  BrokerDriver b(config);
  b.producer_hello("p1");
  b.producer_hello("p2");
  b.connect_consumer("c1", 10);
  b.flush();
  b.take_all();
  run_producer(b, "p1", "c1", 2);
  b.flush();
  EXPECT_FALSE(b.core().drained()) << "p2 said hello and may still send work";
  b.send_tasks("p2", {0});
  b.send_pill("p2", 1);
  b.complete("c1", b.flush_and_take_tasks("c1"));
  b.flush();
  b.take_and_ack_results("p2");
  b.flush();
  EXPECT_TRUE(b.core().drained());
}

TEST(BrokerCorePill, SecondPillFromTheSameProducerCountsOnce) {
  Config config = test_config();
  config.expected_producers = 2;
  BrokerDriver b(config);
  b.connect_producer("p1");
  b.send_pill("p1", 0);
  b.send_pill("p1", 0);
  b.flush();
  EXPECT_FALSE(b.core().drained());
  b.producer_hello_on("p1", "r-p1-new");  // and again from a new connection
  b.to_frontend("r-p1-new", pill(0));
  b.flush();
  EXPECT_FALSE(b.core().drained()) << "one producer is one pill, however often it says so";
  b.connect_producer("p2");
  b.send_pill("p2", 0);
  b.flush();
  EXPECT_TRUE(b.core().drained());
}

TEST(BrokerCorePill, DrainNeedsAtLeastOneProducer) {
  BrokerDriver b;
  b.connect_consumer("c1", 10);
  b.flush();
  b.tick();
  b.flush();
  EXPECT_FALSE(b.core().drained());
  EXPECT_EQ(pills(b.take_consumer("c1")), 0u);
}

TEST(BrokerCorePill, ProducerWithNoTasksPillsAndDrains) {
  BrokerDriver b;
  b.connect_producer("p1");
  b.connect_consumer("c1", 10);
  b.send_pill("p1", 0);
  b.flush();
  EXPECT_TRUE(b.core().drained());
  EXPECT_EQ(pills(b.take_consumer("c1")), 1u);
  auto drained = drained_in(b.take_producer("p1"));
  ASSERT_EQ(drained.size(), 1u);
  EXPECT_EQ(drained[0].summary().tasks(), 0u);
}

TEST(BrokerCorePill, DrainSendsExactlyOnePillPerConsumerAndOneDrainedPerProducer) {
  BrokerDriver b;
  b.producer_hello("p1");
  b.producer_hello("p2");
  b.flush();
  b.take_all();
  for (const char* c : {"c1", "c2", "c3"})
    b.connect_consumer(c, 2);
  b.send_pill("p1", 0);
  b.send_pill("p2", 0);
  for (int i = 0; i < 3; ++i) {
    b.flush();
    b.advance(milliseconds(400));
    b.tick();
    for (const char* c : {"c1", "c2", "c3"})
      b.to_backend(route_of(c), heartbeat());
  }
  for (const char* c : {"c1", "c2", "c3"}) {
    auto got = b.take_consumer(c);
    EXPECT_EQ(pills(got), 1u) << c;
    EXPECT_EQ(count_body(got, wire::Envelope::kTasks), 0u) << c;
  }
  EXPECT_EQ(drained_in(b.take_producer("p1")).size(), 1u);
  EXPECT_EQ(drained_in(b.take_producer("p2")).size(), 1u);
}

TEST(BrokerCorePill, DrainedSummaryCountsAreExact) {
  Config config = test_config();
  config.max_attempts = 2;
  BrokerDriver b(config);
  b.producer_hello("p1");
  b.producer_hello("p2");
  b.producer_hello("p3");
  b.flush();
  b.take_all();
  b.connect_consumer("c1", 1);
  // p3 sends one task, which fails, and leaves after acknowledging: it gets no summary.
  b.send_tasks("p3", {0});
  b.send_pill("p3", 1);
  b.complete("c1", b.flush_and_take_tasks("c1"), wire::FAILED);
  b.flush();
  b.take_and_ack_results("p3");
  b.to_frontend(route_of("p3"), goodbye());
  // p1: seq 0 is lost twice and dies; seq 1 is lost once and then succeeds.
  b.send_tasks("p1", {0, 1});
  b.send_pill("p1", 2);
  b.advance(milliseconds(10));
  ASSERT_EQ(seqs_of(b.flush_and_take_tasks("c1")), (std::vector<std::uint64_t>{0}));
  b.connect_consumer("c1", 1);  // loses p1:0 (attempt 1)
  ASSERT_EQ(attempts_of(b.flush_and_take_tasks("c1")), (std::vector<std::uint32_t>{2}));
  b.connect_consumer("c1", 1);  // loses p1:0 (attempt 2): dead
  auto task = b.flush_and_take_tasks("c1");
  ASSERT_EQ(seqs_of(task), (std::vector<std::uint64_t>{1}));
  b.connect_consumer("c1", 1);  // loses p1:1 (attempt 1)
  task = b.flush_and_take_tasks("c1");
  ASSERT_EQ(attempts_of(task), (std::vector<std::uint32_t>{2}));
  b.complete("c1", task);
  // p2: two tasks, one ok and one failed, both on c2 (c1 takes no more).
  b.to_backend(route_of("c1"), consumer_credit(0));
  b.send_tasks("p2", {0, 1});
  b.send_pill("p2", 2);
  b.connect_consumer("c2", 5);
  b.flush();
  b.take_tasks("c1");
  auto p2_tasks = b.take_tasks("c2");
  ASSERT_EQ(p2_tasks.size(), 2u);
  b.complete("c2", {p2_tasks[0]});
  b.complete("c2", {p2_tasks[1]}, wire::FAILED);
  b.advance(milliseconds(990));
  b.flush();
  b.take_and_ack_results("p1");
  b.take_and_ack_results("p2");
  b.flush();
  ASSERT_TRUE(b.core().drained());

  auto p1 = drained_in(b.take_producer("p1"));
  auto p2 = drained_in(b.take_producer("p2"));
  ASSERT_EQ(p1.size(), 1u);
  ASSERT_EQ(p2.size(), 1u);
  EXPECT_TRUE(drained_in(b.take_producer("p3")).empty()) << "p3 is not connected";
  const auto& s = p1[0].summary();
  EXPECT_EQ(s.tasks(), 5u);
  EXPECT_EQ(s.ok(), 2u);
  EXPECT_EQ(s.failed(), 2u);
  EXPECT_EQ(s.dead(), 1u);
  EXPECT_EQ(s.redelivered(), 2u) << "p1:0 once before it died, p1:1 once";
  EXPECT_DOUBLE_EQ(s.seconds(), 1.0);
  EXPECT_EQ(p2[0].summary().SerializeAsString(), s.SerializeAsString());
}

TEST(BrokerCorePill, DrainHappensExactlyOnce) {
  BrokerDriver b;
  b.connect_producer("p1");
  b.connect_consumer("c1", 10);
  run_producer(b, "p1", "c1", 4);
  b.flush();
  ASSERT_TRUE(b.core().drained());
  ASSERT_EQ(pills(b.take_consumer("c1")), 1u);
  ASSERT_EQ(drained_in(b.take_producer("p1")).size(), 1u);
  for (int i = 0; i < 5; ++i) {
    b.send_pill("p1", 4);
    b.send_ack("p1", {0, 1, 2, 3});
    b.flush();
  }
  for (const auto& out : b.take_all()) {
    EXPECT_FALSE(out.envelope.has_pill());
    EXPECT_FALSE(out.envelope.has_drained());
  }
  EXPECT_TRUE(b.core().drained());
}

TEST(BrokerCorePill, FinishedOnlyWithExitWhenDrained) {
  for (const bool exit_when_drained : {false, true}) {
    Config config = test_config();
    config.exit_when_drained = exit_when_drained;
    BrokerDriver b(config);
    b.connect_producer("p1");
    b.connect_consumer("c1", 10);
    b.send_tasks("p1", {0});
    b.send_pill("p1", 1);
    b.flush();
    EXPECT_FALSE(b.core().finished()) << "not drained yet";
    b.complete("c1", b.take_tasks("c1"));
    b.flush();
    b.take_and_ack_results("p1");
    b.flush();
    EXPECT_TRUE(b.core().drained());
    EXPECT_EQ(b.core().finished(), exit_when_drained);
  }
}

TEST(BrokerCorePill, ConsumerConnectingAfterTheDrainGetsWelcomeThenPill) {
  BrokerDriver b;
  b.connect_producer("p1");
  b.send_pill("p1", 0);
  b.flush();
  ASSERT_TRUE(b.core().drained());
  b.consumer_hello("late", 4);
  auto got = b.take_consumer("late");
  ASSERT_EQ(got.size(), 2u);
  EXPECT_TRUE(got[0].has_welcome());
  EXPECT_TRUE(got[1].has_pill());
  b.flush();
  EXPECT_EQ(pills(b.take_consumer("late")), 0u) << "exactly one pill";
}

TEST(BrokerCorePill, NewProducerAfterTheDrainStartsANewRun) {
  BrokerDriver b;
  b.connect_producer("p1");
  b.connect_consumer("c1", 10);
  run_producer(b, "p1", "c1", 3);
  b.flush();
  ASSERT_TRUE(b.core().drained());
  b.take_all();

  b.advance(milliseconds(5000));
  EXPECT_GT(b.connect_producer("p2"), 0u) << "the new run's producer gets credit";
  EXPECT_FALSE(b.core().drained());
  b.connect_consumer("c2", 10);
  b.send_tasks("p2", {0, 1});
  b.send_pill("p2", 2);
  b.advance(milliseconds(250));
  auto tasks = b.flush_and_take_tasks("c2");
  ASSERT_EQ(tasks.size(), 2u);
  EXPECT_TRUE(b.take_tasks("c1").empty()) << "c1 was pilled";
  b.flush();
  EXPECT_FALSE(b.core().drained()) << "p1's pill belongs to the last run";
  b.complete("c2", tasks);
  b.flush();
  b.take_and_ack_results("p2");
  b.flush();
  ASSERT_TRUE(b.core().drained());
  auto drained = drained_in(b.take_producer("p2"));
  ASSERT_EQ(drained.size(), 1u);
  EXPECT_EQ(drained[0].summary().tasks(), 2u) << "only this run's tasks";
  EXPECT_EQ(drained[0].summary().ok(), 2u);
  EXPECT_DOUBLE_EQ(drained[0].summary().seconds(), 0.25);
  EXPECT_EQ(pills(b.take_consumer("c2")), 1u);
  EXPECT_EQ(pills(b.take_consumer("c1")), 0u) << "c1 had its pill in the last run";
}

TEST(BrokerCorePill, ProducerOfTheDrainedRunSayingHelloAgainIsToldItIsDrained) {
  BrokerDriver b;
  b.connect_producer("p1");
  b.connect_consumer("c1", 10);
  run_producer(b, "p1", "c1", 2);
  b.flush();
  ASSERT_TRUE(b.core().drained());
  b.take_all();
  b.producer_hello_on("p1", "r-p1-new");
  auto got = b.take(Side::frontend, "r-p1-new");
  ASSERT_EQ(got.size(), 2u);
  EXPECT_TRUE(got[0].has_welcome());
  ASSERT_TRUE(got[1].has_drained());
  EXPECT_EQ(got[1].drained().summary().tasks(), 2u);
  EXPECT_TRUE(b.core().drained()) << "no new run: p1 belongs to this one";
}

// The asyncio task_done() bug, broker-side: with many producers, consumers, a lost consumer and
// failures, the drain must happen, exactly once, with every task answered exactly once.
TEST(BrokerCorePill, BusyRunDrainsExactlyOnceWithEveryTaskAnsweredOnce) {
  Config config = test_config();
  config.queue_capacity = 20;
  config.expected_producers = 3;
  BrokerDriver b(config);
  const std::vector<std::string> producers = {"p1", "p2", "p3"};
  const std::vector<std::string> consumers = {"c1", "c2", "c3", "c4"};
  constexpr std::uint64_t kTasks = 40;
  std::map<std::string, std::uint64_t> credit;
  std::map<std::string, std::uint64_t> next_seq;
  std::map<std::string, std::multiset<std::uint64_t>> answered;
  std::map<std::string, int> drained_count;
  std::map<std::string, int> pill_count;
  for (const auto& c : consumers)
    b.connect_consumer(c, 3);
  int round = 0;
  for (; round < 500 && !b.core().drained(); ++round) {
    if (round < 3) b.producer_hello(producers[static_cast<std::size_t>(round)]);
    b.flush();
    for (const auto& p : producers) {
      for (const auto& e : b.take_producer(p)) {
        if (e.has_credit()) credit[p] += e.credit().grant();
        if (e.has_drained()) ++drained_count[p];
        std::vector<std::uint64_t> seqs;
        for (const auto& r : e.results().results()) {
          answered[p].insert(r.seq());
          seqs.push_back(r.seq());
        }
        if (!seqs.empty()) b.send_ack(p, seqs);
      }
      const std::uint64_t n = std::min(credit[p], kTasks - next_seq[p]);
      if (n > 0) {
        b.send_tasks(p, seq_range(next_seq[p], next_seq[p] + n));
        next_seq[p] += n;
        credit[p] -= n;
        if (next_seq[p] == kTasks) b.send_pill(p, kTasks);
      }
    }
    for (const auto& c : consumers) {
      std::vector<wire::Task> tasks;
      for (const auto& e : b.take_consumer(c)) {
        if (e.has_pill()) ++pill_count[c];
        tasks.insert(tasks.end(), e.tasks().tasks().begin(), e.tasks().tasks().end());
      }
      if (c == "c4" && round == 10) {
        b.undeliverable(Side::backend, route_of(c));  // c4 is lost with what it holds
        continue;
      }
      std::vector<wire::Result> results;
      for (const auto& t : tasks)
        results.push_back(result(t.producer(), t.seq(), t.seq() % 7 == 3 ? wire::FAILED : wire::OK,
                                 "out", t.attempt()));
      if (!results.empty()) b.send_results(c, results);
    }
  }
  ASSERT_TRUE(b.core().drained()) << "no drain after " << round << " rounds";
  b.flush();
  for (const auto& p : producers) {
    for (const auto& e : b.take_producer(p))
      drained_count[p] += e.has_drained() ? 1 : 0;
    EXPECT_EQ(drained_count[p], 1) << p;
    EXPECT_EQ(answered[p].size(), kTasks) << p << ": one result per task";
    for (std::uint64_t seq = 0; seq < kTasks; ++seq)
      EXPECT_EQ(answered[p].count(seq), 1u) << p << ":" << seq;
  }
  for (const auto& c : consumers) {
    for (const auto& e : b.take_consumer(c))
      pill_count[c] += e.has_pill() ? 1 : 0;
    EXPECT_EQ(pill_count[c], c == "c4" ? 0 : 1) << c;
  }
  const auto& stats = b.core().stats();
  EXPECT_EQ(stats.tasks_received, 3 * kTasks);
  EXPECT_EQ(stats.ok + stats.failed + stats.dead, 3 * kTasks);
  EXPECT_GT(stats.redelivered, 0u) << "c4 was lost holding tasks";
  EXPECT_GT(stats.failed, 0u);
  EXPECT_EQ(b.core().tasks_held(), 0u);
}

}  // namespace
}  // namespace conveyor::broker::testing
