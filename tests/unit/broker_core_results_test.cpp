// broker::Core: results go back to the producer that made the task, once, until acknowledged.
#include <gtest/gtest.h>

#include "unit/broker_driver.hpp"

namespace conveyor::broker::testing {
namespace {

TEST(BrokerCoreResults, ResultsAreRoutedBackToTheirProducer) {
  BrokerDriver b;
  b.producer_hello("p1");
  b.producer_hello("p2");
  b.flush();
  b.take_all();
  b.connect_consumer("c1", 10);
  b.connect_consumer("c2", 10);
  b.send_tasks("p1", {0, 1, 2});
  b.send_tasks("p2", {0, 1, 2});
  b.flush();
  auto c1 = b.take_tasks("c1");
  auto c2 = b.take_tasks("c2");
  ASSERT_EQ(c1.size() + c2.size(), 6u);
  b.complete("c2", c2);
  b.complete("c1", c1);
  b.flush();
  auto p1 = b.take_results("p1");
  auto p2 = b.take_results("p2");
  ASSERT_EQ(p1.size(), 3u);
  ASSERT_EQ(p2.size(), 3u);
  for (const auto* results : {&p1, &p2}) {
    std::vector<std::uint64_t> seqs = seqs_of(*results);
    std::sort(seqs.begin(), seqs.end());
    EXPECT_EQ(seqs, (std::vector<std::uint64_t>{0, 1, 2}));
  }
  for (const auto& r : p1)
    EXPECT_EQ(r.output(), "done-payload-" + std::to_string(r.seq()));
  EXPECT_EQ(b.core().stats().ok, 6u);
}

TEST(BrokerCoreResults, ResultNamesItsConsumerAndAttemptsButNotItsProducer) {
  BrokerDriver b;
  b.connect_producer("p1");
  b.connect_consumer("c7", 10);
  b.send_tasks("p1", {0});
  b.complete("c7", b.flush_and_take_tasks("c7"));
  b.flush();
  auto results = b.take_results("p1");
  ASSERT_EQ(results.size(), 1u);
  EXPECT_EQ(results[0].seq(), 0u);
  EXPECT_EQ(results[0].status(), wire::OK);
  EXPECT_EQ(results[0].consumer(), "c7");
  EXPECT_EQ(results[0].attempts(), 1u);
  EXPECT_TRUE(results[0].producer().empty()) << "B->P results leave the producer empty";
  EXPECT_EQ(results[0].output(), "done-payload-0");
}

TEST(BrokerCoreResults, ResultsOfOneFlushTravelAsOneBatch) {
  BrokerDriver b;
  b.connect_producer("p1");
  b.connect_consumer("c1", 50);
  b.send_tasks("p1", seq_range(0, 20));
  auto tasks = b.flush_and_take_tasks("c1");
  b.complete("c1", {tasks.begin(), tasks.begin() + 10});
  b.complete("c1", {tasks.begin() + 10, tasks.end()});
  b.flush();
  auto got = b.take_producer("p1");
  EXPECT_EQ(count_body(got, wire::Envelope::kResults), 1u);
  EXPECT_EQ(seqs_of(results_in(got)), seq_range(0, 20)) << "in completion order";
}

TEST(BrokerCoreResults, FailedResultIsFinalWithItsErrorWithoutRetryFailed) {
  BrokerDriver b;
  b.connect_producer("p1");
  b.connect_consumer("c1", 10);
  b.send_tasks("p1", {0});
  b.complete("c1", b.flush_and_take_tasks("c1"), wire::FAILED);
  b.flush();
  EXPECT_TRUE(b.take_tasks("c1").empty()) << "not retried";
  auto results = b.take_results("p1");
  ASSERT_EQ(results.size(), 1u);
  EXPECT_EQ(results[0].status(), wire::FAILED);
  EXPECT_EQ(results[0].error(), "handler said no");
  EXPECT_EQ(results[0].attempts(), 1u);
  EXPECT_EQ(b.core().stats().failed, 1u);
  EXPECT_EQ(b.core().tasks_held(), 0u);
}

TEST(BrokerCoreResults, OnlyTheBrokerDeclaresATaskDead) {
  BrokerDriver b;
  b.connect_producer("p1");
  b.connect_consumer("c1", 10);
  b.send_tasks("p1", {0, 1});
  auto tasks = b.flush_and_take_tasks("c1");
  b.send_results("c1", {result("p1", 0, wire::DEAD), result("p1", 1, wire::STATUS_UNSPECIFIED)});
  b.flush();
  auto results = b.take_results("p1");
  ASSERT_EQ(results.size(), 2u);
  EXPECT_EQ(results[0].status(), wire::FAILED);
  EXPECT_EQ(results[1].status(), wire::FAILED);
  EXPECT_EQ(b.core().stats().dead, 0u);
  EXPECT_EQ(b.core().stats().failed, 2u);
}

TEST(BrokerCoreResults, AckedResultsAreForgotten) {
  BrokerDriver b;
  b.connect_producer("p1");
  b.connect_consumer("c1", 10);
  b.send_tasks("p1", {0, 1});
  b.complete("c1", b.flush_and_take_tasks("c1"));
  b.flush();
  ASSERT_EQ(b.take_results("p1").size(), 2u);
  b.send_ack("p1", {0, 1});
  b.producer_hello_on("p1", "r-p1-new");  // reconnect: nothing left to resend
  b.flush();
  EXPECT_TRUE(results_in(b.take(Side::frontend, "r-p1-new")).empty());
}

TEST(BrokerCoreResults, UnackedResultsAreResentWhenTheProducerSaysHelloAgain) {
  BrokerDriver b;
  b.connect_producer("p1");
  b.connect_consumer("c1", 10);
  b.send_tasks("p1", {0, 1, 2});
  b.complete("c1", b.flush_and_take_tasks("c1"));
  b.flush();
  ASSERT_EQ(b.take_results("p1").size(), 3u);
  b.send_ack("p1", {1});
  b.producer_hello_on("p1", "r-p1-new");
  b.flush();
  auto got = b.take(Side::frontend, "r-p1-new");
  ASSERT_FALSE(got.empty());
  EXPECT_TRUE(got[0].has_welcome());
  auto again = results_in(got);
  EXPECT_EQ(seqs_of(again), (std::vector<std::uint64_t>{0, 2}));
  for (const auto& r : again)
    EXPECT_EQ(r.consumer(), "c1");
  EXPECT_TRUE(b.take_producer("p1").empty()) << "nothing to the old route";
  EXPECT_EQ(b.core().stats().ok, 3u) << "a resend is not a new result";
}

TEST(BrokerCoreResults, ResultsForADisconnectedProducerWaitForItsHello) {
  BrokerDriver b;
  b.connect_producer("p1");
  b.connect_consumer("c1", 10);
  b.send_tasks("p1", {0, 1});
  auto tasks = b.flush_and_take_tasks("c1");
  b.to_frontend(route_of("p1"), goodbye());
  b.complete("c1", tasks);
  b.flush();
  EXPECT_TRUE(b.take_producer("p1").empty());
  b.producer_hello("p1");
  b.flush();
  EXPECT_EQ(seqs_of(b.take_results("p1")), (std::vector<std::uint64_t>{0, 1}));
}

TEST(BrokerCoreResults, AResultForAnEarlierDeliveryNeverDisplacesTheRealOne) {
  BrokerDriver b;
  b.connect_producer("p1");
  b.connect_consumer("c1", 10);
  b.send_tasks("p1", {0});
  auto first = b.flush_and_take_tasks("c1");
  ASSERT_EQ(first.size(), 1u);
  // c1 reconnects under its id: its old session ends and the task is delivered again.
  b.connect_consumer("c1", 10);
  auto second = b.flush_and_take_tasks("c1");
  ASSERT_EQ(second.size(), 1u);
  EXPECT_EQ(second[0].attempt(), 2u);
  b.complete("c1", first);  // the first delivery's result arrives first
  b.complete("c1", second);
  b.flush();
  auto results = b.take_results("p1");
  ASSERT_EQ(results.size(), 1u);
  EXPECT_EQ(results[0].attempts(), 2u);
  EXPECT_EQ(results[0].output(), "done-payload-0");
  EXPECT_EQ(bad(b.core(), BadInput::not_holder), 1u);
  EXPECT_EQ(b.core().stats().ok, 1u);
}

TEST(BrokerCoreResults, AResultForATaskTheBrokerNeverHeldIsBadInput) {
  BrokerDriver b;
  b.connect_producer("p1");
  b.connect_consumer("c1", 10);
  b.send_results("c1", {result("p1", 99), result("nobody", 0)});
  b.flush();
  EXPECT_TRUE(b.take_results("p1").empty());
  EXPECT_EQ(bad(b.core(), BadInput::not_holder), 2u);
  EXPECT_EQ(b.core().stats().ok, 0u);
}

TEST(BrokerCoreResults, TaskResentByAReconnectedProducerIsIgnoredWhileHeld) {
  BrokerDriver b;
  b.connect_producer("p1");
  b.connect_consumer("c1", 1);
  b.send_tasks("p1", {0, 1});  // 0 goes in flight, 1 stays queued
  auto tasks = b.flush_and_take_tasks("c1");
  ASSERT_EQ(tasks.size(), 1u);
  b.producer_hello_on("p1", "r-p1-new");
  b.flush();
  b.take_all();
  b.to_frontend("r-p1-new", task_batch({0, 1, 2}));
  EXPECT_EQ(b.core().stats().duplicate_tasks, 2u);
  EXPECT_EQ(b.core().stats().tasks_received, 3u);
  EXPECT_EQ(b.core().tasks_held(), 3u);
  b.complete("c1", tasks);
  EXPECT_EQ(seqs_of(b.flush_and_take_tasks("c1")), (std::vector<std::uint64_t>{1}));
}

TEST(BrokerCoreResults, TaskResentWhileItsResultIsUnackedIsIgnored) {
  BrokerDriver b;
  b.connect_producer("p1");
  b.connect_consumer("c1", 10);
  b.send_tasks("p1", {0});
  b.complete("c1", b.flush_and_take_tasks("c1"));
  b.flush();
  b.take_all();  // the result is lost with the connection
  b.producer_hello_on("p1", "r-p1-new");
  b.flush();
  auto got = b.take(Side::frontend, "r-p1-new");
  EXPECT_EQ(seqs_of(results_in(got)), (std::vector<std::uint64_t>{0}));
  ASSERT_GT(granted(got), 0u);
  b.to_frontend("r-p1-new", task_batch({0}));
  EXPECT_EQ(b.core().stats().duplicate_tasks, 1u);
  EXPECT_EQ(b.core().tasks_held(), 0u);
  EXPECT_TRUE(b.flush_and_take_tasks("c1").empty()) << "not run twice";
}

}  // namespace
}  // namespace conveyor::broker::testing
