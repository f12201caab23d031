// broker::Core: begin_stop() (SIGTERM/SIGINT) is a local pill. No new tasks; what is held still
// runs; consumers are pilled and the broker finishes once those results are in.
#include <gtest/gtest.h>

#include <csignal>

#include "unit/broker_driver.hpp"

namespace conveyor::broker::testing {
namespace {

TEST(BrokerCoreStop, StopRejectsNewTasksWithShuttingDownListingTheirSeqs) {
  BrokerDriver b;
  ASSERT_EQ(b.connect_producer("p1"), 100u);
  b.send_tasks("p1", {0, 1, 2});
  b.begin_stop();
  EXPECT_TRUE(b.core().stopping());
  b.send_tasks("p1", {3, 4});
  auto errors = errors_in(b.take_producer("p1"));
  ASSERT_EQ(errors.size(), 1u);
  EXPECT_EQ(errors[0].code(), wire::SHUTTING_DOWN);
  EXPECT_EQ(rejected_seqs(errors[0]), (std::vector<std::uint64_t>{3, 4}));
  EXPECT_EQ(b.core().tasks_held(), 3u);
  EXPECT_EQ(b.core().stats().rejected_tasks, 2u);
  EXPECT_EQ(bad_total(b.core()), 0u) << "a stopping broker's refusal is not the peer's fault";
}

TEST(BrokerCoreStop, StopGrantsNoMoreCredit) {
  BrokerDriver b;
  b.connect_producer("p1");
  b.connect_consumer("c1", 10);
  b.send_tasks("p1", seq_range(0, 60));
  b.begin_stop();
  b.flush();
  EXPECT_EQ(b.take_tasks("c1").size(), 10u);
  EXPECT_EQ(granted(b.take_producer("p1")), 0u);
}

TEST(BrokerCoreStop, StopStillDispatchesHeldTasks) {
  BrokerDriver b;
  b.connect_producer("p1");
  b.connect_consumer("c1", 2);
  b.send_tasks("p1", seq_range(0, 5));
  b.begin_stop();
  auto first = b.flush_and_take_tasks("c1");
  EXPECT_EQ(seqs_of(first), (std::vector<std::uint64_t>{0, 1}));
  b.connect_consumer("c2", 10);  // a consumer may still join and help
  b.complete("c1", first);
  b.flush();
  auto c1 = b.take_tasks("c1");
  auto c2 = b.take_tasks("c2");
  EXPECT_EQ(c1.size() + c2.size(), 3u);
  EXPECT_FALSE(c2.empty());
  EXPECT_FALSE(b.core().finished());
}

TEST(BrokerCoreStop, StopPillsConsumersAndFinishesOnlyAfterHeldResultsArrive) {
  BrokerDriver b;
  b.connect_producer("p1");
  b.connect_consumer("c1", 10);
  b.send_tasks("p1", {0, 1});
  auto tasks = b.flush_and_take_tasks("c1");
  ASSERT_EQ(tasks.size(), 2u);
  b.begin_stop();
  b.flush();
  EXPECT_FALSE(b.core().finished());
  EXPECT_EQ(count_body(b.take_consumer("c1"), wire::Envelope::kPill), 0u);

  b.complete("c1", {tasks[0]});
  b.flush();
  b.take_and_ack_results("p1");
  b.flush();
  EXPECT_FALSE(b.core().finished()) << "task 1 is still running";

  b.complete("c1", {tasks[1]});
  b.flush();
  EXPECT_FALSE(b.core().finished()) << "p1 is connected and has not acknowledged yet";
  b.take_and_ack_results("p1");
  b.flush();
  EXPECT_TRUE(b.core().finished());
  EXPECT_EQ(count_body(b.take_consumer("c1"), wire::Envelope::kPill), 1u);
  auto got = b.take_producer("p1");
  ASSERT_EQ(got.size(), 1u);
  ASSERT_TRUE(got[0].has_drained());
  EXPECT_TRUE(got[0].drained().broker_stopping());
  EXPECT_EQ(got[0].drained().summary().ok(), 2u);
}

TEST(BrokerCoreStop, StopDoesNotWaitForProducersPills) {
  BrokerDriver b;
  b.connect_producer("p1");
  b.connect_consumer("c1", 10);
  b.send_tasks("p1", {0});
  b.complete("c1", b.flush_and_take_tasks("c1"));
  b.flush();
  b.take_and_ack_results("p1");
  b.begin_stop();
  b.flush();
  EXPECT_TRUE(b.core().finished()) << "no pill from p1, and none needed";
  EXPECT_EQ(count_body(b.take_consumer("c1"), wire::Envelope::kPill), 1u);
}

TEST(BrokerCoreStop, StopWithNothingHeldFinishesAtTheNextFlush) {
  BrokerDriver b;
  b.connect_consumer("c1", 4);
  b.begin_stop();
  EXPECT_FALSE(b.core().finished()) << "finishing is flush's decision";
  b.flush();
  EXPECT_TRUE(b.core().finished());
  EXPECT_EQ(count_body(b.take_consumer("c1"), wire::Envelope::kPill), 1u);
}

TEST(BrokerCoreStop, StopDoesNotWaitForAcksFromADisconnectedProducer) {
  BrokerDriver b;
  b.connect_producer("p1");
  b.connect_consumer("c1", 10);
  b.send_tasks("p1", {0});
  auto tasks = b.flush_and_take_tasks("c1");
  b.to_frontend(route_of("p1"), goodbye());
  b.begin_stop();
  b.complete("c1", tasks);
  b.flush();
  EXPECT_TRUE(b.core().finished());
  EXPECT_EQ(count_body(b.take_consumer("c1"), wire::Envelope::kPill), 1u);
}

TEST(BrokerCoreStop, StopWaitsForTasksRedeliveredAfterALostConsumer) {
  BrokerDriver b;
  b.connect_producer("p1");
  b.connect_consumer("c1", 10);
  b.send_tasks("p1", {0, 1});
  ASSERT_EQ(b.flush_and_take_tasks("c1").size(), 2u);
  b.begin_stop();
  b.undeliverable(Side::backend, route_of("c1"));
  b.flush();
  EXPECT_FALSE(b.core().finished());
  EXPECT_EQ(b.core().queue_depth(), 2u);
  b.connect_consumer("c2", 10);
  auto again = b.flush_and_take_tasks("c2");
  EXPECT_EQ(attempts_of(again), (std::vector<std::uint32_t>{2, 2}));
  b.complete("c2", again);
  b.flush();
  b.take_and_ack_results("p1");
  b.flush();
  EXPECT_TRUE(b.core().finished());
}

TEST(BrokerCoreStop, StopRefusesNewProducersWithShuttingDown) {
  BrokerDriver b;
  b.connect_producer("p1");
  b.send_tasks("p1", {0});  // held: the broker does not finish at once
  b.begin_stop();
  b.producer_hello("p2");
  auto errors = errors_in(b.take_producer("p2"));
  ASSERT_EQ(errors.size(), 1u);
  EXPECT_EQ(errors[0].code(), wire::SHUTTING_DOWN);
  EXPECT_EQ(b.core().producers_connected(), 1u);
}

TEST(BrokerCoreStop, StopAfterTheDrainFinishes) {
  BrokerDriver b;  // no --exit-when-drained: it keeps serving after the drain
  b.connect_producer("p1");
  b.connect_consumer("c1", 10);
  b.send_tasks("p1", {0});
  b.send_pill("p1", 1);
  b.complete("c1", b.flush_and_take_tasks("c1"));
  b.flush();
  b.take_and_ack_results("p1");
  b.flush();
  ASSERT_TRUE(b.core().drained());
  ASSERT_FALSE(b.core().finished());
  b.take_all();
  b.begin_stop();
  b.flush();
  EXPECT_TRUE(b.core().finished()) << "SIGTERM after a drain must not hang the broker";
  EXPECT_EQ(count_body(b.take_consumer("c1"), wire::Envelope::kPill), 0u) << "pilled already";
}

TEST(BrokerCoreStop, SecondBeginStopChangesNothing) {
  BrokerDriver b;
  b.connect_producer("p1");
  b.send_tasks("p1", {0});
  b.begin_stop();
  b.begin_stop();
  b.flush();
  EXPECT_TRUE(b.core().stopping());
  EXPECT_FALSE(b.core().finished());
  EXPECT_EQ(b.core().tasks_held(), 1u);
}

TEST(BrokerCoreStop, TheFirstSignalBeginsAnOrderlyStopTheSecondStopsAtOnce) {
  BrokerDriver b;
  b.connect_producer("p1");
  b.send_tasks("p1", {0});
  EXPECT_EQ(b.core().on_signal(SIGTERM, b.now()), SignalAction::drain);
  EXPECT_TRUE(b.core().stopping());
  EXPECT_FALSE(b.core().finished()) << "task 0 is still held";
  EXPECT_EQ(b.core().on_signal(SIGINT, b.now()), SignalAction::stop_now);
}

}  // namespace
}  // namespace conveyor::broker::testing
