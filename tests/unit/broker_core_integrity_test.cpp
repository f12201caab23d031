// broker::Core and DESIGN.md §7.1, who may say what: a result only from the session holding
// that delivery, hand-backs and acks only for what the sender holds or was sent, one live process
// per id, and no peer that can hold a run open for ever. Every refusal is counted as bad input
// and changes nothing else.
#include <gtest/gtest.h>

#include "unit/broker_driver.hpp"

namespace conveyor::broker::testing {
namespace {

const Duration kWindow = milliseconds(3000);  // test_config(): heartbeat 1 s x liveness 3

// p1 sends seqs 0..n-1 and its pill; c1 (capacity 10) is connected and has taken them.
std::vector<wire::Task> a_run_in_flight(BrokerDriver& b, std::uint64_t n) {
  b.connect_producer("p1");
  b.connect_consumer("c1", 10);
  b.send_tasks("p1", seq_range(0, n));
  b.send_pill("p1", n);
  return b.flush_and_take_tasks("c1");
}

TEST(BrokerCoreIntegrity, ForgedResultsFromAConsumerGivenNothingAreRefused) {
  BrokerDriver b;
  const auto tasks = a_run_in_flight(b, 2);
  b.connect_consumer("forger", 1);
  b.send_results("forger", {result("p1", 0, wire::OK, "forged"), result("p1", 1)});
  b.flush();
  EXPECT_TRUE(b.take_results("p1").empty()) << "nothing forged reaches a results file";
  EXPECT_EQ(bad(b.core(), BadInput::not_holder), 2u);
  b.complete("c1", tasks);
  b.flush();
  const auto results = b.take_results("p1");
  ASSERT_EQ(results.size(), 2u) << "the real results still count";
  EXPECT_EQ(results[0].output(), "done-payload-0");
  EXPECT_EQ(results[0].consumer(), "c1");
}

TEST(BrokerCoreIntegrity, AResultFromAnotherConsumerThanTheHolderIsRefused) {
  BrokerDriver b;
  const auto tasks = a_run_in_flight(b, 1);
  b.connect_consumer("c2", 10);
  b.complete("c2", tasks);
  b.flush();
  EXPECT_TRUE(b.take_results("p1").empty());
  EXPECT_EQ(b.core().in_flight(), 1u) << "c1 still holds it";
  EXPECT_EQ(bad(b.core(), BadInput::not_holder), 1u);
}

TEST(BrokerCoreIntegrity, AResultForAnOlderAttemptFromTheHolderIsRefused) {
  Config config = test_config();
  config.retry_failed = true;
  config.retry_delay =
      Duration::zero();  // retried at the next flush (delays: broker_core_retry_test)
  BrokerDriver b(config);
  const auto first = a_run_in_flight(b, 1);
  b.complete("c1", first, wire::FAILED);  // delivery 1 fails and goes back
  const auto second = b.flush_and_take_tasks("c1");
  ASSERT_EQ(attempts_of(second), (std::vector<std::uint32_t>{2}));
  b.complete("c1", first);  // a second answer for delivery 1
  b.flush();
  EXPECT_TRUE(b.take_results("p1").empty());
  EXPECT_EQ(bad(b.core(), BadInput::not_holder), 1u);
  b.complete("c1", second);
  b.flush();
  ASSERT_EQ(b.take_results("p1").size(), 1u);
}

TEST(BrokerCoreIntegrity, HandingBackTasksItDoesNotHoldChangesNothing) {
  BrokerDriver b;
  const auto tasks = a_run_in_flight(b, 1);
  b.connect_consumer("c2", 10);
  b.to_backend(route_of("c2"), consumer_credit(std::nullopt, {ref("p1", 0)}));
  b.to_backend(route_of("c2"), goodbye({}, {ref("p1", 0), ref("p9", 3)}));
  EXPECT_EQ(bad(b.core(), BadInput::not_held), 2u) << "one credit, one goodbye";
  EXPECT_EQ(b.core().in_flight(), 1u) << "c1 still holds p1:0";
  EXPECT_EQ(b.core().queue_depth(), 0u);
  b.complete("c1", tasks);
  b.flush();
  const auto results = b.take_results("p1");
  ASSERT_EQ(results.size(), 1u);
  EXPECT_EQ(results[0].attempts(), 1u) << "c2's goodbye cost no attempt";
}

TEST(BrokerCoreIntegrity, AnAckForAResultNotSentIsRefusedAndTheResultStillGoesOut) {
  BrokerDriver b;
  const auto tasks = a_run_in_flight(b, 1);
  b.complete("c1", tasks);  // final, but not sent to p1 before the next flush
  b.send_ack("p1", {0});
  EXPECT_EQ(bad(b.core(), BadInput::unsent_ack), 1u);
  b.flush();
  EXPECT_EQ(seqs_of(b.take_and_ack_results("p1")), (std::vector<std::uint64_t>{0}));
  b.flush();
  EXPECT_TRUE(b.core().drained());
}

TEST(BrokerCoreIntegrity, AnAckRepeatedForAForgottenResultIsHarmless) {
  BrokerDriver b;
  const auto tasks = a_run_in_flight(b, 1);
  b.complete("c1", tasks);
  b.flush();
  b.take_and_ack_results("p1");
  b.send_ack("p1", {0});
  EXPECT_EQ(bad_total(b.core()), 0u);
}

TEST(BrokerCoreIntegrity, APillFromAProducerNotInTheRunIsRefused) {
  Config config = test_config();
  config.service = true;
  BrokerDriver b(config);
  b.connect_producer("p1");
  b.send_pill("p1", 0);
  b.flush();
  ASSERT_TRUE(b.core().drained());
  b.producer_hello_on("p2", route_of("p2"), false);  // a new run, without p1
  b.send_tasks("p2", {0});
  b.flush();
  b.send_pill("p1", 0);  // p1 is still connected, from the drained run
  b.flush();
  EXPECT_EQ(bad(b.core(), BadInput::out_of_run), 1u);
  EXPECT_FALSE(b.core().drained()) << "p2's run is not over";
}

TEST(BrokerCoreIntegrity, AHelloUnderALiveProducersIdFromAnotherProcessIsRefused) {
  BrokerDriver b;
  b.connect_producer("p1");
  b.send_tasks("p1", {0});
  auto other = hello(wire::PRODUCER, "p1");
  other.mutable_hello()->set_process(12345);
  b.to_frontend("r-intruder", std::move(other));
  const auto errors = errors_in(b.take(Side::frontend, "r-intruder"));
  ASSERT_EQ(errors.size(), 1u);
  EXPECT_EQ(errors[0].code(), wire::DUPLICATE_ID);
  EXPECT_FALSE(errors[0].fatal()) << "it may ask again";
  EXPECT_NE(errors[0].text().find("p1"), std::string::npos) << "the error names the id";
  EXPECT_EQ(bad(b.core(), BadInput::duplicate_id), 1u);
  EXPECT_EQ(b.core().producers_connected(), 1u);
  b.send_tasks("p1", {1});  // the first session is untouched
  EXPECT_EQ(b.core().tasks_held(), 2u);
}

TEST(BrokerCoreIntegrity, TheSameProcessReconnectingTakesItsSessionOverAtOnce) {
  BrokerDriver b;
  b.connect_producer("p1");
  b.producer_hello_on("p1", "r-p1-again");
  const auto got = b.take(Side::frontend, "r-p1-again");
  ASSERT_FALSE(got.empty());
  EXPECT_TRUE(got.front().has_welcome());
  EXPECT_EQ(bad_total(b.core()), 0u);
}

TEST(BrokerCoreIntegrity, AnotherProcessGetsTheIdOnceTheOldSessionIsDeclaredGone) {
  BrokerDriver b;
  b.connect_producer("p1");
  b.advance(kWindow + milliseconds(1));
  b.tick();  // p1 sent nothing for the liveness window: its session is gone
  auto restarted = hello(wire::PRODUCER, "p1");
  restarted.mutable_hello()->set_process(777);
  b.to_frontend("r-p1-restarted", std::move(restarted));
  const auto got = b.take(Side::frontend, "r-p1-restarted");
  ASSERT_FALSE(got.empty());
  EXPECT_TRUE(got.front().has_welcome());
}

TEST(BrokerCoreIntegrity, AHelloUnderALiveConsumersIdFromAnotherProcessIsRefused) {
  BrokerDriver b;
  b.connect_consumer("c1", 4);
  auto other = hello(wire::CONSUMER, "c1", 4);
  other.mutable_hello()->set_process(999);
  b.to_backend("r-other-c1", std::move(other));
  const auto errors = errors_in(b.take(Side::backend, "r-other-c1"));
  ASSERT_EQ(errors.size(), 1u);
  EXPECT_EQ(errors[0].code(), wire::DUPLICATE_ID);
  EXPECT_EQ(b.core().consumers(), 1u);
}

TEST(BrokerCoreIntegrity, AProducerGoneWithoutATaskOrItsPillDoesNotHoldTheDrainOpen) {
  Config config = test_config();
  config.expected_producers = 1;
  BrokerDriver b(config);
  b.connect_producer("ghost");  // says hello, then nothing
  b.advance(kWindow + milliseconds(1));
  b.tick();
  b.connect_consumer("c1", 10);
  b.connect_producer("p1");
  b.send_tasks("p1", {0});
  b.send_pill("p1", 1);
  b.complete("c1", b.flush_and_take_tasks("c1"));
  b.flush();
  b.take_and_ack_results("p1");
  b.flush();
  EXPECT_TRUE(b.core().drained());
}

TEST(BrokerCoreIntegrity, AProducerGoneAfterSendingTasksIsStillWaitedFor) {
  BrokerDriver b;
  ASSERT_GT(b.connect_producer("p2"), 0u);  // first, so that it has the credit for its task
  b.connect_producer("p1");
  b.send_tasks("p2", {0});
  ASSERT_EQ(b.core().tasks_held(), 1u);
  b.advance(kWindow + milliseconds(1));
  b.to_frontend(route_of("p1"), heartbeat());
  b.tick();  // p2 is gone, with a task sent
  b.send_pill("p1", 0);
  b.flush();
  EXPECT_FALSE(b.core().drained()) << "p2's task is unfinished and p2 may come back";
}

TEST(BrokerCoreIntegrity, AMessageTooLargeToReadEndsTheConsumersSessionAndItsDeliveries) {
  Config config = test_config();
  config.max_message_bytes = 4096;
  BrokerDriver b(config);
  const auto tasks = a_run_in_flight(b, 1);
  b.frames(Side::backend, route_of("c1"), {std::string(5000, 'x')});
  EXPECT_EQ(bad(b.core(), BadInput::too_large), 1u);
  EXPECT_EQ(b.core().consumers(), 0u) << "its session ended";
  b.connect_consumer("c2", 10);
  const auto again = b.flush_and_take_tasks("c2");
  EXPECT_EQ(attempts_of(again), (std::vector<std::uint32_t>{2})) << "the lost delivery counts";
}

}  // namespace
}  // namespace conveyor::broker::testing
