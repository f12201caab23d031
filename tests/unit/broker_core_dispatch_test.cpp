// broker::Core: dispatch. FIFO order, round-robin across consumers with credit (a quarter of a
// consumer's capacity at a time; a hot consumer, whose results just arrived, first and whole), and
// one TaskBatch per consumer per flush.
#include <gtest/gtest.h>

#include "unit/broker_driver.hpp"

namespace conveyor::broker::testing {
namespace {

TEST(BrokerCoreDispatch, TasksAreDispatchedInFifoOrder) {
  BrokerDriver b;
  b.connect_producer("p1");
  b.connect_consumer("c1", 100);
  b.send_tasks("p1", {0, 1, 2});
  b.send_tasks("p1", {3, 4});
  b.send_tasks("p1", {5});
  EXPECT_EQ(seqs_of(b.flush_and_take_tasks("c1")), seq_range(0, 6));
}

TEST(BrokerCoreDispatch, FifoOrderHoldsAcrossProducersByArrival) {
  BrokerDriver b;
  b.producer_hello("p1");
  b.producer_hello("p2");
  b.flush();
  b.take_all();
  b.connect_consumer("c1", 100);
  b.send_tasks("p1", {0, 1});
  b.send_tasks("p2", {0});
  b.send_tasks("p1", {2});
  auto tasks = b.flush_and_take_tasks("c1");
  ASSERT_EQ(tasks.size(), 4u);
  std::vector<std::string> ids;
  for (const auto& t : tasks)
    ids.push_back(t.producer() + ":" + std::to_string(t.seq()));
  EXPECT_EQ(ids, (std::vector<std::string>{"p1:0", "p1:1", "p2:0", "p1:2"}));
}

TEST(BrokerCoreDispatch, DispatchedTaskCarriesProducerSeqFirstAttemptPayloadAndHeaders) {
  BrokerDriver b;
  b.connect_producer("p1");
  b.connect_consumer("c1", 4);
  wire::Envelope batch = task_batch({7});
  auto* header = batch.mutable_tasks()->mutable_tasks(0)->add_headers();
  header->set_key("content-type");
  header->set_value("text/plain");
  b.to_frontend(route_of("p1"), batch);
  auto tasks = b.flush_and_take_tasks("c1");
  ASSERT_EQ(tasks.size(), 1u);
  EXPECT_EQ(tasks[0].producer(), "p1");
  EXPECT_EQ(tasks[0].seq(), 7u);
  EXPECT_EQ(tasks[0].attempt(), 1u);
  EXPECT_EQ(tasks[0].payload(), "payload-7");
  ASSERT_EQ(tasks[0].headers_size(), 1);
  EXPECT_EQ(tasks[0].headers(0).key(), "content-type");
  EXPECT_EQ(tasks[0].headers(0).value(), "text/plain");
}

// The driver hands every sent batch back to the core (Core::recycle), as the shell does: a batch
// refilled from a recycled one carries only its own tasks and fields, nothing of the last one.
TEST(BrokerCoreDispatch, ARecycledBatchCarriesNothingOfTheLastOne) {
  BrokerDriver b;
  b.connect_producer("p1");
  b.connect_consumer("c1", 100);
  wire::Envelope first = task_batch({0, 1, 2}, "a-much-longer-first-payload-");
  auto* header = first.mutable_tasks()->mutable_tasks(1)->add_headers();
  header->set_key("k");
  header->set_value("v");
  b.to_frontend(route_of("p1"), first);
  ASSERT_EQ(b.flush_and_take_tasks("c1").size(), 3u);
  b.send_tasks("p1", {3, 4});
  auto tasks = b.flush_and_take_tasks("c1");
  ASSERT_EQ(tasks.size(), 2u);
  EXPECT_EQ(tasks[0].seq(), 3u);
  EXPECT_EQ(tasks[0].payload(), "payload-3");
  EXPECT_EQ(tasks[1].seq(), 4u);
  EXPECT_EQ(tasks[1].payload(), "payload-4");
  EXPECT_EQ(tasks[1].headers_size(), 0);
  EXPECT_EQ(tasks[1].attempt(), 1u);
}

TEST(BrokerCoreDispatch, NothingIsDispatchedWithoutAConsumer) {
  BrokerDriver b;
  b.connect_producer("p1");
  b.send_tasks("p1", seq_range(0, 5));
  b.flush();
  EXPECT_EQ(b.core().queue_depth(), 5u);
  EXPECT_EQ(b.core().in_flight(), 0u);
  for (const auto& out : b.take_all())
    EXPECT_FALSE(out.envelope.has_tasks());
}

// Under four tasks of capacity (slow tasks under --prefetch auto) a share is one task.
TEST(BrokerCoreDispatch, TwoSmallConsumersShareTenTasksFiveAndFiveInterleaved) {
  BrokerDriver b;
  b.connect_producer("p1");
  b.connect_consumer("c1", 5);
  b.connect_consumer("c2", 5);
  b.send_tasks("p1", seq_range(0, 10));
  b.flush();
  EXPECT_EQ(seqs_of(b.take_tasks("c1")), (std::vector<std::uint64_t>{0, 2, 4, 6, 8}));
  EXPECT_EQ(seqs_of(b.take_tasks("c2")), (std::vector<std::uint64_t>{1, 3, 5, 7, 9}));
}

TEST(BrokerCoreDispatch, EachConsumerIsDealtAQuarterOfItsCapacityAtATime) {
  BrokerDriver b;
  b.connect_producer("p1");
  b.connect_consumer("c1", 8);
  b.connect_consumer("c2", 12);
  b.send_tasks("p1", seq_range(0, 15));
  b.flush();
  EXPECT_EQ(seqs_of(b.take_tasks("c1")), (std::vector<std::uint64_t>{0, 1, 5, 6, 10, 11}));
  EXPECT_EQ(seqs_of(b.take_tasks("c2")),
            (std::vector<std::uint64_t>{2, 3, 4, 7, 8, 9, 12, 13, 14}));
}

// A few tasks wake one consumer, not every one; the next ones go to the next consumer.
TEST(BrokerCoreDispatch, AShortQueueGoesToOneConsumerAndTheNextToTheNext) {
  BrokerDriver b;
  b.connect_producer("p1");
  for (const char* c : {"c1", "c2", "c3", "c4"})
    b.connect_consumer(c, 400);
  b.send_tasks("p1", seq_range(0, 50));
  b.flush();
  EXPECT_EQ(b.take_tasks("c1").size(), 50u);
  for (const char* c : {"c2", "c3", "c4"})
    EXPECT_TRUE(b.take_consumer(c).empty()) << c << " was woken for nothing";
  b.send_tasks("p1", seq_range(50, 100));
  b.flush();
  EXPECT_EQ(seqs_of(b.take_tasks("c2")), seq_range(50, 100));
  for (const char* c : {"c1", "c3", "c4"})
    EXPECT_TRUE(b.take_consumer(c).empty()) << c;
}

TEST(BrokerCoreDispatch, RoundRobinResumesAfterTheLastConsumerServed) {
  BrokerDriver b;
  b.connect_producer("p1");
  b.connect_consumer("c1", 10);
  b.connect_consumer("c2", 10);
  b.connect_consumer("c3", 10);
  std::vector<std::string> order;
  for (std::uint64_t seq = 0; seq < 6; ++seq) {
    b.send_tasks("p1", {seq});
    b.flush();
    for (const char* c : {"c1", "c2", "c3"}) {
      if (!b.take_tasks(c).empty()) order.push_back(c);
    }
  }
  EXPECT_EQ(order, (std::vector<std::string>{"c1", "c2", "c3", "c1", "c2", "c3"}));
}

// Three consumers of capacity 8 (quarters of 2); c1 has just finished two tasks.
void c1_finishes_two_tasks(BrokerDriver& b) {
  b.connect_producer("p1");
  for (const char* c : {"c1", "c2", "c3"})
    b.connect_consumer(c, 8);
  b.send_tasks("p1", {0, 1});
  const auto first = b.flush_and_take_tasks("c1");
  ASSERT_EQ(first.size(), 2u);
  b.complete("c1", first);
}

TEST(BrokerCoreDispatch, AConsumerWhoseResultsJustArrivedIsServedFirstAndRefilledWhole) {
  BrokerDriver b;
  c1_finishes_two_tasks(b);
  b.send_tasks("p1", seq_range(2, 14));
  b.flush();
  EXPECT_EQ(seqs_of(b.take_tasks("c1")), seq_range(2, 10));  // all 8 of its credit
  EXPECT_EQ(seqs_of(b.take_tasks("c2")), (std::vector<std::uint64_t>{10, 11}));
  EXPECT_EQ(seqs_of(b.take_tasks("c3")), (std::vector<std::uint64_t>{12, 13}));
}

TEST(BrokerCoreDispatch, AfterAQuietSpellNoOneIsHotAndABurstIsDealtInQuarters) {
  BrokerDriver b;
  c1_finishes_two_tasks(b);
  b.flush();  // the results go to the producer; nothing is queued
  b.advance(std::chrono::milliseconds(6));
  b.send_tasks("p1", seq_range(2, 14));
  b.flush();
  EXPECT_EQ(seqs_of(b.take_tasks("c2")), (std::vector<std::uint64_t>{2, 3, 8, 9}));
  EXPECT_EQ(seqs_of(b.take_tasks("c3")), (std::vector<std::uint64_t>{4, 5, 10, 11}));
  EXPECT_EQ(seqs_of(b.take_tasks("c1")), (std::vector<std::uint64_t>{6, 7, 12, 13}));
}

TEST(BrokerCoreDispatch, AHotConsumerIsRefilledOnceThenTakesItsTurnUntilItReportsAgain) {
  BrokerDriver b;
  c1_finishes_two_tasks(b);
  b.send_tasks("p1", {2});
  EXPECT_EQ(seqs_of(b.flush_and_take_tasks("c1")), (std::vector<std::uint64_t>{2}));
  b.send_tasks("p1", seq_range(3, 9));
  b.flush();
  EXPECT_EQ(seqs_of(b.take_tasks("c2")), (std::vector<std::uint64_t>{3, 4}));
  EXPECT_EQ(seqs_of(b.take_tasks("c3")), (std::vector<std::uint64_t>{5, 6}));
  EXPECT_EQ(seqs_of(b.take_tasks("c1")), (std::vector<std::uint64_t>{7, 8}));
}

// Only work done makes a consumer hot: one whose task timed out (or failed) is not first in line
// for that task's next attempt, which goes round-robin to the next consumer.
TEST(BrokerCoreDispatch, AConsumerWhoseTaskTimedOutIsNotFirstInLineForItsNextAttempt) {
  BrokerDriver b;
  b.connect_producer("p1");
  b.connect_consumer("c1", 8);
  b.connect_consumer("c2", 8);
  b.send_tasks("p1", {0});
  ASSERT_EQ(b.flush_and_take_tasks("c1").size(), 1u);
  wire::Result timed_out = result("p1", 0, wire::FAILED);
  timed_out.set_timed_out(true);
  b.send_results("c1", {timed_out});
  b.flush();
  const auto again = b.take_tasks("c2");
  ASSERT_EQ(again.size(), 1u);
  EXPECT_EQ(again[0].seq(), 0u);
  EXPECT_EQ(again[0].attempt(), 2u);
  EXPECT_TRUE(b.take_tasks("c1").empty());
}

TEST(BrokerCoreDispatch, ConsumerWithoutCreditIsSkippedNotWaitedFor) {
  BrokerDriver b;
  b.connect_producer("p1");
  b.connect_consumer("c1", 1);
  b.connect_consumer("c2", 10);
  b.send_tasks("p1", seq_range(0, 6));
  b.flush();
  EXPECT_EQ(seqs_of(b.take_tasks("c1")), (std::vector<std::uint64_t>{0}));
  EXPECT_EQ(seqs_of(b.take_tasks("c2")), (std::vector<std::uint64_t>{1, 2, 3, 4, 5}));
}

TEST(BrokerCoreDispatch, ConsumerJoiningMidRunGetsQueuedWorkInTheNextFlush) {
  BrokerDriver b;
  b.connect_producer("p1");
  b.connect_consumer("c1", 2);
  b.send_tasks("p1", seq_range(0, 6));
  ASSERT_EQ(b.flush_and_take_tasks("c1").size(), 2u);
  b.connect_consumer("c2", 10);
  EXPECT_EQ(seqs_of(b.flush_and_take_tasks("c2")), (std::vector<std::uint64_t>{2, 3, 4, 5}));
  EXPECT_EQ(b.core().queue_depth(), 0u);
}

TEST(BrokerCoreDispatch, ManyTasksGoOutAsOneBatchPerConsumerPerFlush) {
  BrokerDriver b;
  b.connect_producer("p1");
  b.connect_consumer("c1", 100);
  b.connect_consumer("c2", 100);
  b.send_tasks("p1", seq_range(0, 50));
  b.send_tasks("p1", seq_range(50, 100));
  b.flush();
  auto c1 = b.take_consumer("c1");
  auto c2 = b.take_consumer("c2");
  ASSERT_EQ(c1.size(), 1u);
  ASSERT_EQ(c2.size(), 1u);
  EXPECT_EQ(c1[0].tasks().tasks_size(), 50);
  EXPECT_EQ(c2[0].tasks().tasks_size(), 50);
}

TEST(BrokerCoreDispatch, BatchesAreCutBeforeTheyNearTheMessageSizeLimit) {
  Config config = test_config();
  config.max_message_bytes = 8192;  // batches are cut at a quarter: 2 KiB
  config.max_payload_bytes = 1024;
  BrokerDriver b(config);
  b.connect_producer("p1");
  b.connect_consumer("c1", 100);
  // Two messages of five: ten would be over the limit the driver (like the shell) enforces.
  b.to_frontend(route_of("p1"), task_batch(seq_range(0, 5), std::string(1000, 'x')));
  b.to_frontend(route_of("p1"), task_batch(seq_range(5, 10), std::string(1000, 'x')));
  b.flush();
  auto got = b.take_consumer("c1");
  EXPECT_GE(got.size(), 4u);
  for (const auto& e : got) {
    EXPECT_LE(e.ByteSizeLong(), config.max_message_bytes);
    EXPECT_LE(e.tasks().tasks_size(), 3);
  }
  EXPECT_EQ(seqs_of(tasks_in(got)), seq_range(0, 10)) << "every task once, in order";
}

TEST(BrokerCoreDispatch, PilledConsumerGetsNoTasks) {
  BrokerDriver b;
  b.connect_producer("p1");
  b.send_pill("p1", 0);
  b.connect_consumer("c1", 10);
  b.flush();
  ASSERT_TRUE(b.core().drained());
  ASSERT_EQ(count_body(b.take_consumer("c1"), wire::Envelope::kPill), 1u);
  // A new run begins; the old run's consumer is on its way out and must not get its work.
  b.connect_producer("p2");
  b.send_tasks("p2", {0});
  b.flush();
  EXPECT_TRUE(b.take_tasks("c1").empty());
  EXPECT_EQ(b.core().queue_depth(), 1u);
  b.connect_consumer("c2", 10);
  EXPECT_EQ(b.flush_and_take_tasks("c2").size(), 1u);
}

}  // namespace
}  // namespace conveyor::broker::testing
