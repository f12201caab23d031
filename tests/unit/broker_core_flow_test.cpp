// broker::Core: flow control. Producers get credit only for free room in the queue, consumers get
// at most their capacity, and tasks handed back unstarted go first without costing an attempt.
#include <gtest/gtest.h>

#include <map>

#include "unit/broker_driver.hpp"

namespace conveyor::broker::testing {
namespace {

Config with_capacity(std::size_t capacity) {
  Config config = test_config();
  config.queue_capacity = capacity;
  return config;
}

TEST(BrokerCoreFlow, LoneProducerIsGrantedTheWholeQueue) {
  BrokerDriver b(with_capacity(10));
  EXPECT_EQ(b.connect_producer("p1"), 10u);
  b.flush();
  EXPECT_TRUE(b.take_producer("p1").empty()) << "no second grant while the first is unused";
}

TEST(BrokerCoreFlow, ProducersThatArriveTogetherShareTheQueueEqually) {
  BrokerDriver b(with_capacity(10));
  b.producer_hello("p1");
  b.producer_hello("p2");
  b.flush();
  EXPECT_EQ(granted(b.take_producer("p1")), 5u);
  EXPECT_EQ(granted(b.take_producer("p2")), 5u);
}

TEST(BrokerCoreFlow, FullQueueGrantsNothingUntilRoomFrees) {
  BrokerDriver b(with_capacity(10));
  ASSERT_EQ(b.connect_producer("p1"), 10u);
  b.send_tasks("p1", seq_range(0, 10));
  b.flush();
  EXPECT_EQ(granted(b.take_producer("p1")), 0u);
  EXPECT_EQ(b.core().queue_depth(), 10u);

  b.connect_consumer("c1", 4);
  b.flush();
  EXPECT_EQ(b.take_tasks("c1").size(), 4u);
  EXPECT_EQ(granted(b.take_producer("p1")), 4u) << "exactly the room the dispatch freed";
}

TEST(BrokerCoreFlow, CreditIsToppedUpOnlyOnceHalfOfItIsUsed) {
  BrokerDriver b(with_capacity(10));
  b.connect_consumer("c1", 100);
  ASSERT_EQ(b.connect_producer("p1"), 10u);
  b.send_tasks("p1", {0, 1, 2, 3});
  b.flush();
  EXPECT_EQ(granted(b.take_producer("p1")), 0u) << "6 of 10 unused: above the half-share mark";
  b.send_tasks("p1", {4});
  b.flush();
  EXPECT_EQ(granted(b.take_producer("p1")), 5u) << "topped up to a full share in one message";
}

TEST(BrokerCoreFlow, GrantsNeverLetQueuedPlusOutstandingExceedCapacity) {
  constexpr std::size_t kCapacity = 10;
  BrokerDriver b(with_capacity(kCapacity));
  std::map<std::string, std::uint64_t> outstanding;  // the producers' own view of their credit
  std::map<std::string, std::uint64_t> next_seq;
  const std::vector<std::string> producers = {"p1", "p2", "p3"};
  for (const auto& p : producers)
    b.producer_hello(p);
  b.connect_consumer("c1", 3);
  std::uint64_t sent = 0;
  std::uint64_t results = 0;
  for (int round = 0; round < 40; ++round) {
    b.flush();
    for (const auto& p : producers) {
      for (const auto& e : b.take_producer(p)) {
        if (e.has_credit()) outstanding[p] += e.credit().grant();
        if (e.has_results()) {
          results += static_cast<std::uint64_t>(e.results().results_size());
          std::vector<std::uint64_t> seqs;
          for (const auto& r : e.results().results())
            seqs.push_back(r.seq());
          b.send_ack(p, seqs);
        }
      }
    }
    std::uint64_t total = 0;
    for (const auto& [p, n] : outstanding)
      total += n;
    ASSERT_LE(b.core().queue_depth() + total, kCapacity) << "round " << round;
    // Each producer uses part of its credit (round-dependent, so the mix varies).
    for (std::size_t i = 0; i < producers.size(); ++i) {
      const auto& p = producers[i];
      const std::uint64_t use = std::min<std::uint64_t>(outstanding[p], 1 + (round + i) % 4);
      std::vector<std::uint64_t> seqs = seq_range(next_seq[p], next_seq[p] + use);
      next_seq[p] += use;
      outstanding[p] -= use;
      sent += use;
      if (!seqs.empty()) b.send_tasks(p, seqs);
      ASSERT_TRUE(errors_in(b.take_producer(p)).empty()) << "tasks within credit are accepted";
    }
    ASSERT_LE(b.core().queue_depth(), kCapacity);
    b.complete("c1", b.take_tasks("c1"));
  }
  b.flush();
  for (const auto& p : producers)
    results += b.take_results(p).size();
  EXPECT_GT(sent, 3 * kCapacity) << "credit kept flowing as room freed";
  EXPECT_EQ(results + b.core().tasks_held(), sent) << "every task is answered or still held";
  EXPECT_EQ(b.core().stats().rejected_tasks, 0u);
}

TEST(BrokerCoreFlow, TasksBeyondCreditAreRejectedWithCreditExceeded) {
  BrokerDriver b(with_capacity(4));
  ASSERT_EQ(b.connect_producer("p1"), 4u);
  b.send_tasks("p1", seq_range(0, 6));
  auto errors = errors_in(b.take_producer("p1"));
  ASSERT_EQ(errors.size(), 1u);
  EXPECT_EQ(errors[0].code(), wire::CREDIT_EXCEEDED);
  EXPECT_FALSE(errors[0].fatal());
  EXPECT_EQ(rejected_seqs(errors[0]), (std::vector<std::uint64_t>{4, 5}));
  EXPECT_EQ(b.core().tasks_held(), 4u);
  EXPECT_EQ(b.core().stats().tasks_received, 4u);
  EXPECT_EQ(b.core().stats().rejected_tasks, 2u);
  EXPECT_EQ(bad(b.core(), BadInput::credit_exceeded), 1u);
}

TEST(BrokerCoreFlow, TasksSentBeforeAnyGrantAreAllRejected) {
  BrokerDriver b;
  b.producer_hello("p1");
  b.take_producer("p1");
  b.send_tasks("p1", {0, 1});  // no flush yet: no credit
  auto errors = errors_in(b.take_producer("p1"));
  ASSERT_EQ(errors.size(), 1u);
  EXPECT_EQ(errors[0].code(), wire::CREDIT_EXCEEDED);
  EXPECT_EQ(rejected_seqs(errors[0]), (std::vector<std::uint64_t>{0, 1}));
  EXPECT_EQ(b.core().tasks_held(), 0u);
}

TEST(BrokerCoreFlow, RejectedTasksCanBeSentAgainOnceCreditArrives) {
  BrokerDriver b(with_capacity(2));
  ASSERT_EQ(b.connect_producer("p1"), 2u);
  b.send_tasks("p1", {0, 1, 2});
  ASSERT_EQ(rejected_seqs(errors_in(b.take_producer("p1")).at(0)), (std::vector<std::uint64_t>{2}));
  b.connect_consumer("c1", 2);
  b.flush();
  ASSERT_EQ(seqs_of(b.take_tasks("c1")), (std::vector<std::uint64_t>{0, 1}));
  ASSERT_EQ(granted(b.take_producer("p1")), 2u);
  b.send_tasks("p1", {2});
  EXPECT_TRUE(b.take_producer("p1").empty());
  EXPECT_EQ(b.core().queue_depth(), 1u);
}

TEST(BrokerCoreFlow, ConsumerNeverHoldsMoreThanItsCapacity) {
  BrokerDriver b;
  b.connect_producer("p1");
  b.connect_consumer("c1", 3);
  b.send_tasks("p1", seq_range(0, 10));
  EXPECT_EQ(b.flush_and_take_tasks("c1").size(), 3u);
  EXPECT_TRUE(b.flush_and_take_tasks("c1").empty()) << "full: nothing more until results";
  EXPECT_EQ(b.core().in_flight(), 3u);
  EXPECT_EQ(b.core().queue_depth(), 7u);
}

TEST(BrokerCoreFlow, ResultsFreeConsumerCredit) {
  BrokerDriver b;
  b.connect_producer("p1");
  b.connect_consumer("c1", 3);
  b.send_tasks("p1", seq_range(0, 10));
  auto first = b.flush_and_take_tasks("c1");
  ASSERT_EQ(first.size(), 3u);
  b.complete("c1", {first[0], first[2]});
  auto next = b.flush_and_take_tasks("c1");
  EXPECT_EQ(seqs_of(next), (std::vector<std::uint64_t>{3, 4}));
  EXPECT_EQ(b.core().in_flight(), 3u);
}

TEST(BrokerCoreFlow, ConsumerCreditCapacityRaisesItsWindow) {
  BrokerDriver b;
  b.connect_producer("p1");
  b.connect_consumer("c1", 2);
  b.send_tasks("p1", seq_range(0, 10));
  ASSERT_EQ(b.flush_and_take_tasks("c1").size(), 2u);
  b.to_backend(route_of("c1"), consumer_credit(5));
  EXPECT_EQ(seqs_of(b.flush_and_take_tasks("c1")), (std::vector<std::uint64_t>{2, 3, 4}));
  EXPECT_EQ(b.core().in_flight(), 5u);
}

TEST(BrokerCoreFlow, ConsumerCreditCapacityZeroStopsDispatch) {
  BrokerDriver b;
  b.connect_producer("p1");
  b.connect_consumer("c1", 2);
  b.send_tasks("p1", seq_range(0, 10));
  auto held = b.flush_and_take_tasks("c1");
  ASSERT_EQ(held.size(), 2u);
  b.to_backend(route_of("c1"), consumer_credit(0));
  b.complete("c1", held);
  EXPECT_TRUE(b.flush_and_take_tasks("c1").empty());
  EXPECT_EQ(b.core().in_flight(), 0u);
  EXPECT_EQ(b.core().queue_depth(), 8u);
}

TEST(BrokerCoreFlow, ConsumerCreditCapacityIsClampedToMaxConsumerCapacity) {
  Config config = test_config();
  config.max_consumer_capacity = 4;
  BrokerDriver b(config);
  b.connect_producer("p1");
  b.connect_consumer("c1", 1);
  b.send_tasks("p1", seq_range(0, 10));
  b.to_backend(route_of("c1"), consumer_credit(1000));
  EXPECT_EQ(b.flush_and_take_tasks("c1").size(), 4u);
}

TEST(BrokerCoreFlow, ReleasedTasksGoBackToTheHeadWithoutCountingAnAttempt) {
  BrokerDriver b;
  b.connect_producer("p1");
  b.connect_consumer("c1", 3);
  b.send_tasks("p1", seq_range(0, 5));
  auto held = b.flush_and_take_tasks("c1");
  ASSERT_EQ(seqs_of(held), (std::vector<std::uint64_t>{0, 1, 2}));
  b.to_backend(route_of("c1"), consumer_credit(1, {ref("p1", 1), ref("p1", 2)}));
  EXPECT_EQ(b.core().in_flight(), 1u);
  EXPECT_EQ(b.core().queue_depth(), 4u);

  b.connect_consumer("c2", 10);
  b.flush();
  EXPECT_TRUE(b.take_tasks("c1").empty()) << "c1 holds 1 of its new capacity 1";
  auto again = b.take_tasks("c2");
  EXPECT_EQ(seqs_of(again), (std::vector<std::uint64_t>{1, 2, 3, 4}));
  EXPECT_EQ(attempts_of(again), (std::vector<std::uint32_t>{1, 1, 1, 1}));
  EXPECT_EQ(b.core().stats().redelivered, 0u);
}

TEST(BrokerCoreFlow, ReleasedTasksKeepTheirSeqOrderAtTheHead) {
  BrokerDriver b;
  b.connect_producer("p1");
  b.connect_consumer("c1", 3);
  b.send_tasks("p1", seq_range(0, 5));
  ASSERT_EQ(b.flush_and_take_tasks("c1").size(), 3u);
  // Listed in any order: they go back ahead of 3 and 4, lowest seq first.
  b.to_backend(route_of("c1"), consumer_credit(0, {ref("p1", 0), ref("p1", 2), ref("p1", 1)}));
  b.connect_consumer("c2", 10);
  EXPECT_EQ(seqs_of(b.flush_and_take_tasks("c2")), (std::vector<std::uint64_t>{0, 1, 2, 3, 4}));
}

TEST(BrokerCoreFlow, ReleasingATaskTheConsumerDoesNotHoldIsIgnored) {
  BrokerDriver b;
  b.connect_producer("p1");
  b.connect_consumer("c1", 1);
  b.connect_consumer("c2", 1);
  b.send_tasks("p1", {0, 1, 2});
  b.flush();
  auto c1 = b.take_tasks("c1");
  auto c2 = b.take_tasks("c2");
  ASSERT_EQ(c1.size(), 1u);
  ASSERT_EQ(c2.size(), 1u);
  // c1 hands back c2's task, a queued one, and one that never existed.
  b.to_backend(route_of("c1"),
               consumer_credit(std::nullopt, {ref("p1", c2[0].seq()), ref("p1", 2), ref("zz", 0)}));
  EXPECT_EQ(b.core().in_flight(), 2u);
  EXPECT_EQ(b.core().queue_depth(), 1u);
  b.complete("c2", c2);
  b.flush();
  EXPECT_EQ(b.take_results("p1").size(), 1u);
}

TEST(BrokerCoreFlow, PilledProducersUnusedCreditGoesToTheOthers) {
  BrokerDriver b(with_capacity(10));
  b.producer_hello("p1");
  b.producer_hello("p2");
  b.flush();
  ASSERT_EQ(granted(b.take_producer("p1")), 5u);
  ASSERT_EQ(granted(b.take_producer("p2")), 5u);
  b.send_tasks("p2", seq_range(0, 5));
  b.flush();
  EXPECT_EQ(granted(b.take_producer("p2")), 0u) << "p1 still holds the other half";
  b.send_pill("p1", 0);
  b.flush();
  EXPECT_EQ(granted(b.take_producer("p1")), 0u) << "a pilled producer sends no more";
  EXPECT_EQ(granted(b.take_producer("p2")), 5u);
}

TEST(BrokerCoreFlow, DetachedProducersUnusedCreditGoesToTheOthers) {
  BrokerDriver b(with_capacity(10));
  b.producer_hello("p1");
  b.producer_hello("p2");
  b.flush();
  b.take_all();
  b.send_tasks("p2", seq_range(0, 5));
  b.to_frontend(route_of("p1"), goodbye());
  b.flush();
  EXPECT_EQ(granted(b.take_producer("p2")), 5u);
  EXPECT_EQ(b.core().producers_connected(), 1u);
}

TEST(BrokerCoreFlow, ProducerWithAQueuesWorthOfUnackedResultsGetsNoCredit) {
  BrokerDriver b(with_capacity(4));
  b.connect_consumer("c1", 4);
  ASSERT_EQ(b.connect_producer("p1"), 4u);
  b.send_tasks("p1", seq_range(0, 4));
  auto first = b.flush_and_take_tasks("c1");
  ASSERT_EQ(granted(b.take_producer("p1")), 4u) << "the dispatch emptied the queue";
  b.send_tasks("p1", seq_range(4, 8));
  b.complete("c1", first);
  b.flush();
  auto got = b.take_producer("p1");
  EXPECT_EQ(results_in(got).size(), 4u);
  EXPECT_EQ(b.core().queue_depth(), 0u) << "the room is there";
  EXPECT_EQ(granted(got), 0u) << "but results must be acknowledged before more work";
  b.send_ack("p1", {0, 1, 2, 3});
  b.flush();
  EXPECT_EQ(granted(b.take_producer("p1")), 4u);
}

}  // namespace
}  // namespace conveyor::broker::testing
