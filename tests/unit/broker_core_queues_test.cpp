// broker::Core with named queues, emitted tasks and pills stage by stage (DESIGN.md §7.4).
#include <gtest/gtest.h>

#include "unit/broker_driver.hpp"

namespace conveyor::broker::testing {
namespace {

wire::Result emitting(const wire::Task& task, std::vector<std::string> payloads,
                      wire::Status status = wire::OK) {
  wire::Result r = result(task.producer(), task.seq(), status, "parent-out", task.attempt());
  for (auto& p : payloads)
    r.add_emit(std::move(p));
  return r;
}

std::size_t pills(const std::vector<wire::Envelope>& envelopes) {
  return count_body(envelopes, wire::Envelope::kPill);
}

TEST(BrokerCoreQueues, ATaskGoesOnlyToConsumersOfItsQueue) {
  BrokerDriver b;
  b.connect_producer_to("p1", "images");
  b.connect_consumer_to("text", 10, "default");
  b.connect_consumer_to("pics", 10, "images");
  b.send_tasks("p1", {0, 1});
  b.flush();
  EXPECT_TRUE(b.take_tasks("text").empty());
  EXPECT_EQ(seqs_of(b.take_tasks("pics")), (std::vector<std::uint64_t>{0, 1}));
}

TEST(BrokerCoreQueues, EachQueueHasItsOwnCapacity) {
  Config config = test_config();
  config.queue_capacity = 4;
  BrokerDriver b(config);
  EXPECT_EQ(b.connect_producer_to("p1", "a"), 4u);
  EXPECT_EQ(b.connect_producer_to("p2", "b"), 4u) << "b's room is b's";
}

TEST(BrokerCoreQueues, EmittedTasksAreKnownWithTheParentsResultAndGoToTheNextStage) {
  BrokerDriver b;
  b.connect_producer_to("p1", "pages");
  b.connect_consumer_to("fetch", 10, "pages", "store");
  b.connect_consumer_to("store", 10, "store");
  b.send_tasks("p1", {0});
  const auto parent = b.flush_and_take_tasks("fetch");
  b.send_results("fetch", {emitting(parent[0], {"child-a", "child-b"})});
  EXPECT_EQ(b.core().tasks_held(), 2u) << "registered before the parent is final";
  b.flush();
  auto results = b.take_results("p1");
  ASSERT_EQ(results.size(), 1u);
  EXPECT_EQ(results[0].emitted(), 2u) << "the producer learns how many to wait for";
  EXPECT_TRUE(results[0].id().empty());
  const auto children = b.take_tasks("store");
  ASSERT_EQ(children.size(), 2u);
  EXPECT_EQ(children[0].id(), "p1:0/0");
  EXPECT_EQ(children[1].id(), "p1:0/1");
  EXPECT_EQ(children[0].payload(), "child-a");
  EXPECT_EQ(children[0].producer(), "p1") << "they belong to the root task's producer";
  b.complete("store", children);
  b.flush();
  results = b.take_results("p1");
  ASSERT_EQ(results.size(), 2u);
  EXPECT_EQ(results[0].id(), "p1:0/0");
  EXPECT_EQ(results[0].parent(), "p1:0");
  EXPECT_EQ(results[0].queue(), "store");
  EXPECT_EQ(results[0].consumer(), "store");
  EXPECT_EQ(b.core().stats().tasks_received, 3u);
}

TEST(BrokerCoreQueues, GrandchildrenAreNamedUnderTheirParent) {
  BrokerDriver b;
  b.connect_producer_to("p1", "a");
  b.connect_consumer_to("ca", 10, "a", "a");  // a crawler: it emits into its own queue
  b.send_tasks("p1", {0});
  auto tasks = b.flush_and_take_tasks("ca");
  b.send_results("ca", {emitting(tasks[0], {"x"})});
  tasks = b.flush_and_take_tasks("ca");
  ASSERT_EQ(tasks.size(), 1u);
  b.send_results("ca", {emitting(tasks[0], {"y"})});
  tasks = b.flush_and_take_tasks("ca");
  ASSERT_EQ(tasks.size(), 1u);
  EXPECT_EQ(tasks[0].id(), "p1:0/0/0");
}

TEST(BrokerCoreQueues, ARedeliveredParentDoesNotEmitItsChildrenTwice) {
  Config config = test_config();
  config.retry_delay = Duration::zero();
  BrokerDriver b(config);
  b.connect_producer_to("p1", "a");
  b.connect_consumer_to("ca", 10, "a", "b");
  b.send_tasks("p1", {0});
  auto first = b.flush_and_take_tasks("ca");
  wire::Result retry = emitting(first[0], {"k0", "k1"}, wire::FAILED);
  retry.set_retry(true);
  b.send_results("ca", {retry});
  EXPECT_EQ(b.core().tasks_held(), 3u);
  auto second = b.flush_and_take_tasks("ca");
  ASSERT_EQ(attempts_of(second), (std::vector<std::uint32_t>{2}));
  b.send_results("ca", {emitting(second[0], {"k0", "k1", "k2"})});
  EXPECT_EQ(b.core().tasks_held(), 3u) << "K 0 and 1 exist; only K 2 is new";
  b.flush();
  const auto results = b.take_results("p1");
  ASSERT_EQ(results.size(), 1u);
  EXPECT_EQ(results[0].emitted(), 3u);
}

TEST(BrokerCoreQueues, EmitsFromAConsumerWithoutEmitToAreRefused) {
  BrokerDriver b;
  b.connect_producer("p1");
  b.connect_consumer("c1", 10);
  b.send_tasks("p1", {0});
  const auto tasks = b.flush_and_take_tasks("c1");
  b.send_results("c1", {emitting(tasks[0], {"x"})});
  EXPECT_EQ(bad(b.core(), BadInput::bad_emit), 1u);
  EXPECT_EQ(b.core().tasks_held(), 0u) << "the result counts, its emits do not";
}

TEST(BrokerCoreQueues, Rule741ConsumersArePilledStageByStage) {
  BrokerDriver b;
  b.connect_producer_to("p1", "a");
  b.connect_consumer_to("ca", 10, "a", "b");
  b.connect_consumer_to("cb", 10, "b");
  b.send_tasks("p1", {0});
  b.send_pill("p1", 1);
  const auto parent = b.flush_and_take_tasks("ca");
  b.send_results("ca", {emitting(parent[0], {"child"})});
  b.flush();
  EXPECT_EQ(pills(b.take_consumer("ca")), 1u) << "no task can reach a any more";
  const auto child = b.take_tasks("cb");
  EXPECT_EQ(pills(b.take_consumer("cb")), 0u) << "b still holds the child";
  b.complete("cb", child);
  b.flush();
  EXPECT_EQ(pills(b.take_consumer("cb")), 1u);
  b.take_and_ack_results("p1");
  b.flush();
  EXPECT_TRUE(b.core().drained());
}

TEST(BrokerCoreQueues, Rule743ALaterStageConnectedFirstWaitsForTheStageBeforeIt) {
  BrokerDriver b;
  b.connect_producer_to("p1", "a");
  b.connect_consumer_to("cb", 10, "b");  // the second stage, before anyone says a emits into b
  b.send_tasks("p1", {0});
  b.send_pill("p1", 1);
  b.flush();
  EXPECT_EQ(pills(b.take_consumer("cb")), 0u) << "a's tasks could still go to b";
  b.connect_consumer_to("ca", 10, "a", "b");
  const auto parent = b.flush_and_take_tasks("ca");
  b.send_results("ca", {emitting(parent[0], {"child"})});
  b.flush();
  const auto child = b.take_tasks("cb");
  ASSERT_EQ(child.size(), 1u) << "the emit was taken, not refused";
  b.complete("cb", child);
  b.flush();
  EXPECT_EQ(pills(b.take_consumer("cb")), 1u);
}

TEST(BrokerCoreQueues, Rule742ACrawlersQueueIsFinishedOnlyWhenItIsEmpty) {
  BrokerDriver b;
  b.connect_producer_to("p1", "pages");
  b.connect_consumer_to("crawler", 10, "pages", "pages");
  b.send_tasks("p1", {0});
  b.send_pill("p1", 1);
  auto tasks = b.flush_and_take_tasks("crawler");
  b.send_results("crawler", {emitting(tasks[0], {"link-1", "link-2"})});
  tasks = b.flush_and_take_tasks("crawler");
  ASSERT_EQ(tasks.size(), 2u);
  EXPECT_EQ(pills(b.take_consumer("crawler")), 0u);
  b.complete("crawler", tasks);
  b.flush();
  EXPECT_EQ(pills(b.take_consumer("crawler")), 1u);
}

TEST(BrokerCoreQueues, AStageWaitsWhileTheQueueItEmitsIntoIsFull) {
  Config config = test_config();
  config.queue_capacity = 2;
  BrokerDriver b(config);
  b.connect_producer_to("p1", "a");
  b.connect_consumer_to("ca", 10, "a", "b");
  b.send_tasks("p1", {0, 1});
  auto tasks = b.flush_and_take_tasks("ca");
  ASSERT_EQ(tasks.size(), 2u);
  b.send_results("ca", {emitting(tasks[0], {"x", "y", "z"})});  // b: 3, over its capacity
  b.send_tasks("p1", {2});
  EXPECT_TRUE(b.flush_and_take_tasks("ca").empty()) << "it waits for b to drain";
  b.connect_consumer_to("cb", 10, "b");
  b.complete("cb", b.flush_and_take_tasks("cb"));
  EXPECT_EQ(seqs_of(b.flush_and_take_tasks("ca")), (std::vector<std::uint64_t>{2}));
}

TEST(BrokerCoreQueues, AConsumerOfAFinishedQueueIsPilledAtOnce) {
  BrokerDriver b;
  b.connect_producer_to("p1", "a");
  b.connect_consumer_to("ca", 10, "a", "b");
  b.connect_consumer_to("cb", 10, "b");
  b.send_tasks("p1", {0});
  b.send_pill("p1", 1);
  const auto parent = b.flush_and_take_tasks("ca");
  b.send_results("ca", {emitting(parent[0], {"child"})});
  b.flush();  // a is finished, b is not
  b.consumer_hello("late", 4);
  auto envelope = hello(wire::CONSUMER, "late-a", 4);
  envelope.mutable_hello()->set_queue("a");
  b.to_backend(route_of("late-a"), std::move(envelope));
  const auto got = b.take_consumer("late-a");
  ASSERT_EQ(got.size(), 2u);
  EXPECT_TRUE(got[1].has_pill());
}

TEST(BrokerCoreQueues, AHelloThatWouldFeedAFinishedQueueIsRefused) {
  BrokerDriver b;
  b.connect_producer_to("p1", "a");
  b.connect_consumer_to("ca", 10, "a", "b");
  b.connect_consumer_to("cb", 10, "b");
  b.send_tasks("p1", {0});
  b.send_pill("p1", 1);
  b.send_results("ca", {emitting(b.flush_and_take_tasks("ca")[0], {"child"})});
  b.flush();
  auto envelope = hello(wire::CONSUMER, "emits-into-a", 4);
  envelope.mutable_hello()->set_queue("b");
  envelope.mutable_hello()->set_emit_to("a");
  b.to_backend(route_of("emits-into-a"), std::move(envelope));
  const auto errors = errors_in(b.take_consumer("emits-into-a"));
  ASSERT_EQ(errors.size(), 1u);
  EXPECT_TRUE(errors[0].fatal());
  EXPECT_NE(errors[0].text().find("queue a is finished"), std::string::npos) << errors[0].text();
}

TEST(BrokerCoreQueues, QueuesAreBoundedInNumberAndNamed) {
  Config config = test_config();
  config.max_queues = 2;  // "default" and one more
  BrokerDriver b(config);
  b.connect_producer_to("p1", "one");
  auto third = hello(wire::PRODUCER, "p2");
  third.mutable_hello()->set_queue("two");
  b.to_frontend(route_of("p2"), std::move(third));
  auto errors = errors_in(b.take_producer("p2"));
  ASSERT_EQ(errors.size(), 1u);
  EXPECT_NE(errors[0].text().find("--max-queues 2"), std::string::npos);
  auto bad_name = hello(wire::PRODUCER, "p3");
  bad_name.mutable_hello()->set_queue("no spaces");
  b.to_frontend(route_of("p3"), std::move(bad_name));
  errors = errors_in(b.take_producer("p3"));
  ASSERT_EQ(errors.size(), 1u);
  EXPECT_NE(errors[0].text().find("invalid queue name"), std::string::npos);
}

TEST(BrokerCoreQueues, TheViewsShowEachQueue) {
  BrokerDriver b;
  b.connect_producer_to("p1", "a");
  b.connect_consumer_to("ca", 1, "a", "b");
  b.send_tasks("p1", {0, 1});
  b.flush();
  const auto views = b.core().queue_views();
  ASSERT_EQ(views.size(), 3u);  // default, a, b
  EXPECT_EQ(views[1].name, "a");
  EXPECT_EQ(views[1].queued, 1u);
  EXPECT_EQ(views[1].in_flight, 1u);
  EXPECT_EQ(views[1].consumers, 1u);
  EXPECT_EQ(views[1].emits_to, (std::vector<std::string>{"b"}));
}

}  // namespace
}  // namespace conveyor::broker::testing
