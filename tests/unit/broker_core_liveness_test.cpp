// broker::Core: liveness and redelivery (DESIGN §3). A task leaves the books only with its final
// result; a lost delivery goes back to the head of the queue with attempt + 1, until
// --max-attempts makes it dead.
#include <gtest/gtest.h>

#include "unit/broker_driver.hpp"

namespace conveyor::broker::testing {
namespace {

constexpr Duration kWindow = milliseconds(3000);  // heartbeat 1000 ms x liveness 3

TEST(BrokerCoreLiveness, SilentConsumerIsDeclaredDeadAfterHeartbeatTimesLiveness) {
  BrokerDriver b;
  b.connect_producer("p1");
  b.connect_consumer("c1", 10);
  b.send_tasks("p1", {0, 1});
  ASSERT_EQ(b.flush_and_take_tasks("c1").size(), 2u);
  b.advance(kWindow);
  b.to_frontend(route_of("p1"), heartbeat());
  b.tick();
  EXPECT_EQ(b.core().consumers(), 1u) << "exactly the window: not yet";
  b.advance(milliseconds(1));
  b.tick();
  EXPECT_EQ(b.core().consumers(), 0u);
  EXPECT_EQ(b.core().in_flight(), 0u);
  EXPECT_EQ(b.core().queue_depth(), 2u);
  b.send_results("c1", {result("p1", 0)});
  auto errors = errors_in(b.take_consumer("c1"));
  ASSERT_EQ(errors.size(), 1u);
  EXPECT_EQ(errors[0].code(), wire::NOT_WELCOMED) << "it must say hello again";
}

TEST(BrokerCoreLiveness, AnyMessageFromAConsumerKeepsItAlive) {
  BrokerDriver b;
  b.connect_producer("p1");
  b.connect_consumer("c1", 10);
  b.send_tasks("p1", seq_range(0, 3));
  auto tasks = b.flush_and_take_tasks("c1");
  ASSERT_EQ(tasks.size(), 3u);
  const std::vector<wire::Envelope> messages = {heartbeat(), consumer_credit(10),
                                                result_batch({result("p1", 0)}), heartbeat(),
                                                result_batch({result("p1", 1)})};
  for (const auto& m : messages) {
    b.advance(milliseconds(2500));
    b.to_frontend(route_of("p1"), heartbeat());
    b.to_backend(route_of("c1"), m);
    b.tick();
    ASSERT_EQ(b.core().consumers(), 1u);
  }
  EXPECT_EQ(b.core().in_flight(), 1u);
  EXPECT_EQ(b.core().stats().redelivered, 0u);
}

TEST(BrokerCoreLiveness, DeadConsumersTasksGoBackToTheHeadInSeqOrderWithTheNextAttempt) {
  BrokerDriver b;
  b.connect_producer("p1");
  b.connect_consumer("c1", 12);
  b.send_tasks("p1", seq_range(0, 14));
  ASSERT_EQ(b.flush_and_take_tasks("c1").size(), 12u);
  b.advance(kWindow + milliseconds(1));
  b.to_frontend(route_of("p1"), heartbeat());
  b.tick();
  ASSERT_EQ(b.core().consumers(), 0u);
  EXPECT_EQ(b.core().stats().redelivered, 12u);

  b.connect_consumer("c2", 20);
  auto again = b.flush_and_take_tasks("c2");
  EXPECT_EQ(seqs_of(again), seq_range(0, 14));
  std::vector<std::uint32_t> attempts(12, 2);
  attempts.insert(attempts.end(), {1, 1});
  EXPECT_EQ(attempts_of(again), attempts);
}

TEST(BrokerCoreLiveness, TaskLostMaxAttemptsTimesIsFinalDead) {
  BrokerDriver b;  // --max-attempts 3
  b.connect_producer("p1");
  b.send_tasks("p1", {0});
  for (std::uint32_t attempt = 1; attempt <= 3; ++attempt) {
    b.connect_consumer("c1", 1);
    auto tasks = b.flush_and_take_tasks("c1");
    ASSERT_EQ(attempts_of(tasks), (std::vector<std::uint32_t>{attempt}));
    b.advance(kWindow + milliseconds(1));
    b.to_frontend(route_of("p1"), heartbeat());
    b.tick();
    ASSERT_EQ(b.core().consumers(), 0u);
  }
  b.take_consumer("c1");
  b.flush();
  auto results = b.take_results("p1");
  ASSERT_EQ(results.size(), 1u);
  EXPECT_EQ(results[0].seq(), 0u);
  EXPECT_EQ(results[0].status(), wire::DEAD);
  EXPECT_EQ(results[0].attempts(), 3u);
  EXPECT_NE(results[0].error().find("max-attempts"), std::string::npos);
  EXPECT_EQ(b.core().stats().dead, 1u);
  EXPECT_EQ(b.core().stats().redelivered, 2u);
  EXPECT_EQ(b.core().tasks_held(), 0u);
  b.connect_consumer("c1", 1);
  EXPECT_TRUE(b.flush_and_take_tasks("c1").empty()) << "nothing loops forever";
}

TEST(BrokerCoreLiveness, RetryFailedRequeuesFailedResultsUntilMaxAttemptsThenDead) {
  Config config = test_config();
  config.retry_failed = true;
  config.retry_delay =
      Duration::zero();  // retried at the next flush (delays: broker_core_retry_test)
  BrokerDriver b(config);
  b.connect_producer("p1");
  b.connect_consumer("c1", 10);
  b.send_tasks("p1", {0, 1});
  for (std::uint32_t attempt = 1; attempt <= 3; ++attempt) {
    auto tasks = b.flush_and_take_tasks("c1");
    auto seqs = seqs_of(tasks);
    std::sort(seqs.begin(), seqs.end());
    ASSERT_EQ(seqs, (std::vector<std::uint64_t>{0, 1}));
    ASSERT_EQ(attempts_of(tasks), (std::vector<std::uint32_t>{attempt, attempt}));
    b.complete("c1", tasks, wire::FAILED);
    b.flush();
    if (attempt < 3) {
      EXPECT_TRUE(b.take_results("p1").empty()) << "attempt " << attempt;
    }
  }
  auto results = b.take_results("p1");
  ASSERT_EQ(results.size(), 2u);
  for (const auto& r : results) {
    EXPECT_EQ(r.status(), wire::DEAD);
    EXPECT_EQ(r.attempts(), 3u);
    EXPECT_NE(r.error().find("handler said no"), std::string::npos) << "the last error is kept";
  }
  EXPECT_EQ(b.core().stats().dead, 2u);
  EXPECT_EQ(b.core().stats().failed, 0u);
  EXPECT_EQ(b.core().stats().retried, 4u);
  EXPECT_EQ(b.core().stats().redelivered, 0u) << "retries, not lost deliveries";
  EXPECT_TRUE(b.flush_and_take_tasks("c1").empty());
}

TEST(BrokerCoreLiveness, RetryFailedReportsALaterSuccess) {
  Config config = test_config();
  config.retry_failed = true;
  config.retry_delay =
      Duration::zero();  // retried at the next flush (delays: broker_core_retry_test)
  BrokerDriver b(config);
  b.connect_producer("p1");
  b.connect_consumer("c1", 10);
  b.send_tasks("p1", {0});
  b.complete("c1", b.flush_and_take_tasks("c1"), wire::FAILED);
  b.complete("c1", b.flush_and_take_tasks("c1"), wire::OK);
  b.flush();
  auto results = b.take_results("p1");
  ASSERT_EQ(results.size(), 1u);
  EXPECT_EQ(results[0].status(), wire::OK);
  EXPECT_EQ(results[0].attempts(), 2u);
}

TEST(BrokerCoreLiveness, AResultForADeliveryOfAnEndedSessionIsRefused) {
  BrokerDriver b;
  b.connect_producer("p1");
  b.connect_consumer("c1", 1);
  b.send_tasks("p1", {0});
  auto first = b.flush_and_take_tasks("c1");
  ASSERT_EQ(first.size(), 1u);
  b.advance(kWindow + milliseconds(1));
  b.to_frontend(route_of("p1"), heartbeat());
  b.tick();
  ASSERT_EQ(b.core().consumers(), 0u);
  b.connect_consumer("c2", 1);
  auto second = b.flush_and_take_tasks("c2");
  ASSERT_EQ(attempts_of(second), (std::vector<std::uint32_t>{2}));

  b.connect_consumer("c1", 1);  // back, with the result of its first delivery
  b.complete("c1", first);
  b.flush();
  EXPECT_TRUE(b.take_results("p1").empty()) << "its session no longer holds that delivery";
  EXPECT_EQ(bad(b.core(), BadInput::not_holder), 1u);

  b.complete("c2", second);
  b.flush();
  auto results = b.take_results("p1");
  ASSERT_EQ(results.size(), 1u);
  EXPECT_EQ(results[0].consumer(), "c2");
  EXPECT_EQ(results[0].attempts(), 2u);
  EXPECT_EQ(b.core().stats().ok, 1u);
  EXPECT_EQ(b.core().in_flight(), 0u) << "c2's credit is free again";
  EXPECT_EQ(b.core().tasks_held(), 0u);
}

TEST(BrokerCoreLiveness, AResultForARequeuedTaskIsRefusedAndTheTaskRunsAgain) {
  BrokerDriver b;
  b.connect_producer("p1");
  b.connect_consumer("c1", 1);
  b.send_tasks("p1", {0, 1});
  auto first = b.flush_and_take_tasks("c1");
  ASSERT_EQ(seqs_of(first), (std::vector<std::uint64_t>{0}));
  b.connect_consumer("c1", 1);  // a new session: p1:0 goes back to the queue
  b.complete("c1", first);      // and its first delivery's result arrives before it runs again
  const auto again = b.flush_and_take_tasks("c1");
  EXPECT_EQ(seqs_of(again), (std::vector<std::uint64_t>{0}));
  EXPECT_EQ(attempts_of(again), (std::vector<std::uint32_t>{2}));
  EXPECT_TRUE(b.take_results("p1").empty());
  EXPECT_EQ(bad(b.core(), BadInput::not_holder), 1u);
}

TEST(BrokerCoreLiveness, ConsumerReconnectingUnderTheSameIdEndsItsOldSession) {
  BrokerDriver b;
  b.connect_producer("p1");
  b.connect_consumer("c1", 2);
  b.send_tasks("p1", {0, 1});
  ASSERT_EQ(b.flush_and_take_tasks("c1").size(), 2u);
  b.consumer_hello_on("c1", 2, "r-c1-new");
  ASSERT_TRUE(b.take(Side::backend, "r-c1-new").at(0).has_welcome());
  EXPECT_EQ(b.core().consumers(), 1u);
  EXPECT_EQ(b.core().stats().redelivered, 2u);
  b.flush();
  auto again = tasks_in(b.take(Side::backend, "r-c1-new"));
  EXPECT_EQ(attempts_of(again), (std::vector<std::uint32_t>{2, 2}));
  EXPECT_TRUE(b.take_tasks("c1").empty()) << "nothing to the old route";
  b.to_backend(route_of("c1"), heartbeat());
  ASSERT_EQ(errors_in(b.take_consumer("c1")).size(), 1u) << "the old session is gone";
}

TEST(BrokerCoreLiveness, UndeliverableMessageToAConsumerRequeuesItsTasks) {
  BrokerDriver b;
  b.connect_producer("p1");
  b.connect_consumer("c1", 2);
  b.send_tasks("p1", {0, 1});
  ASSERT_EQ(b.flush_and_take_tasks("c1").size(), 2u);
  b.undeliverable(Side::backend, route_of("c1"));
  EXPECT_EQ(b.core().consumers(), 0u);
  EXPECT_EQ(b.core().queue_depth(), 2u);
  b.connect_consumer("c2", 2);
  EXPECT_EQ(attempts_of(b.flush_and_take_tasks("c2")), (std::vector<std::uint32_t>{2, 2}));
}

TEST(BrokerCoreLiveness, UndeliverableMessageToAProducerDetachesItAndKeepsItsResults) {
  BrokerDriver b;
  b.connect_producer("p1");
  b.connect_consumer("c1", 2);
  b.send_tasks("p1", {0});
  auto tasks = b.flush_and_take_tasks("c1");
  b.undeliverable(Side::frontend, route_of("p1"));
  EXPECT_EQ(b.core().producers_connected(), 0u);
  b.complete("c1", tasks);
  b.flush();
  EXPECT_TRUE(b.take_producer("p1").empty());
  b.producer_hello("p1");
  b.flush();
  EXPECT_EQ(seqs_of(b.take_results("p1")), (std::vector<std::uint64_t>{0}));
}

TEST(BrokerCoreLiveness, HeartbeatsGoToIdlePeersEveryInterval) {
  BrokerDriver b;
  b.connect_producer("p1");
  b.connect_consumer("c1", 2);
  auto beats = [&](std::string_view id, Side side) {
    return count_body(b.take(side, route_of(id)), wire::Envelope::kHeartbeat);
  };
  auto keep_alive = [&] {
    b.to_frontend(route_of("p1"), heartbeat());
    b.to_backend(route_of("c1"), heartbeat());
  };
  b.advance(milliseconds(999));
  keep_alive();
  b.tick();
  EXPECT_EQ(beats("p1", Side::frontend), 0u);
  EXPECT_EQ(beats("c1", Side::backend), 0u);
  b.advance(milliseconds(1));
  b.tick();
  EXPECT_EQ(beats("p1", Side::frontend), 1u);
  EXPECT_EQ(beats("c1", Side::backend), 1u);
  b.advance(milliseconds(500));
  keep_alive();
  b.tick();
  EXPECT_EQ(beats("p1", Side::frontend), 0u) << "one per interval";
  EXPECT_EQ(beats("c1", Side::backend), 0u);
  // c1 is sent a task at 1500 ms: it is not idle, so at 2000 ms only p1 gets a heartbeat.
  b.send_tasks("p1", {0});
  b.flush();
  ASSERT_EQ(b.take_tasks("c1").size(), 1u);
  b.take_all();
  b.advance(milliseconds(500));
  keep_alive();
  b.tick();
  EXPECT_EQ(beats("p1", Side::frontend), 1u);
  EXPECT_EQ(beats("c1", Side::backend), 0u);
  b.advance(milliseconds(500));
  b.tick();
  EXPECT_EQ(beats("c1", Side::backend), 1u);
}

TEST(BrokerCoreLiveness, SilentProducerIsDetachedButItsRunStillWaitsForIt) {
  BrokerDriver b;
  b.connect_producer("p1");
  b.connect_consumer("c1", 10);
  b.send_tasks("p1", {0});
  auto tasks = b.flush_and_take_tasks("c1");
  b.complete("c1", tasks);
  b.advance(kWindow + milliseconds(1));
  b.to_backend(route_of("c1"), heartbeat());
  b.tick();
  EXPECT_EQ(b.core().producers_connected(), 0u);
  b.flush();
  EXPECT_FALSE(b.core().drained()) << "no pill and no --producer-timeout: it may come back";
  b.advance(milliseconds(60'000));
  b.to_backend(route_of("c1"), heartbeat());
  b.tick();
  b.flush();
  EXPECT_FALSE(b.core().drained());
  b.producer_hello("p1");
  b.flush();
  EXPECT_EQ(seqs_of(b.take_results("p1")), (std::vector<std::uint64_t>{0}));
}

TEST(BrokerCoreLiveness, ProducerTimeoutCountsAVanishedProducerAsPilled) {
  Config config = test_config();
  config.producer_timeout = milliseconds(5000);
  config.exit_when_drained = true;
  BrokerDriver b(config);
  b.connect_producer("p1");
  b.connect_consumer("c1", 10);
  b.send_tasks("p1", {0, 1});
  b.complete("c1", b.flush_and_take_tasks("c1"));
  b.to_frontend(route_of("p1"), goodbye());  // gone without its pill or its acks
  const auto keep_c1 = [&] { b.to_backend(route_of("c1"), heartbeat()); };
  b.advance(milliseconds(5000));
  keep_c1();
  b.tick();
  b.flush();
  EXPECT_FALSE(b.core().drained()) << "exactly the timeout: not yet";
  b.advance(milliseconds(1));
  keep_c1();
  b.tick();
  b.flush();
  EXPECT_TRUE(b.core().drained());
  EXPECT_TRUE(b.core().finished());
  EXPECT_EQ(count_body(b.take_consumer("c1"), wire::Envelope::kPill), 1u);
}

TEST(BrokerCoreLiveness, ProducerTimeoutAlsoReleasesAPilledProducerGoneWithUnackedResults) {
  Config config = test_config();
  config.producer_timeout = milliseconds(5000);
  config.exit_when_drained = true;
  BrokerDriver b(config);
  b.connect_producer("p1");
  b.connect_consumer("c1", 10);
  b.send_tasks("p1", {0, 1});
  b.send_pill("p1", 2);
  auto tasks = b.flush_and_take_tasks("c1");
  b.undeliverable(Side::frontend, route_of("p1"));  // its connection is gone
  b.complete("c1", tasks);
  b.flush();
  EXPECT_FALSE(b.core().drained()) << "its results wait for it, for a while";
  b.advance(milliseconds(5001));
  b.to_backend(route_of("c1"), heartbeat());
  b.tick();
  b.flush();
  EXPECT_TRUE(b.core().drained()) << "the run must not wait forever for a producer that is gone";
  EXPECT_TRUE(b.core().finished());
}

TEST(BrokerCoreLiveness, ProducerBackBeforeItsTimeoutIsWaitedForAgain) {
  Config config = test_config();
  config.producer_timeout = milliseconds(5000);
  BrokerDriver b(config);
  b.connect_producer("p1");
  b.to_frontend(route_of("p1"), goodbye());
  b.advance(milliseconds(4000));
  b.connect_producer("p1");
  b.advance(milliseconds(2000));
  b.to_frontend(route_of("p1"), heartbeat());
  b.tick();
  b.flush();
  EXPECT_FALSE(b.core().drained()) << "connected again: its pill is awaited";
  b.send_pill("p1", 0);
  b.flush();
  EXPECT_TRUE(b.core().drained());
}

TEST(BrokerCoreLiveness, GoodbyeAbandonedCountsTheAttemptReleasedDoesNot) {
  BrokerDriver b;
  b.connect_producer("p1");
  b.connect_consumer("c1", 4);
  b.send_tasks("p1", seq_range(0, 5));
  ASSERT_EQ(b.flush_and_take_tasks("c1").size(), 4u);
  // 0 and 3 were never started, 2 was cut short, 1 is not listed: lost like a dead consumer's.
  b.to_backend(route_of("c1"), goodbye({ref("p1", 3), ref("p1", 0)}, {ref("p1", 2)}));
  EXPECT_EQ(b.core().consumers(), 0u);
  EXPECT_EQ(b.core().stats().redelivered, 2u);
  b.connect_consumer("c2", 10);
  auto again = b.flush_and_take_tasks("c2");
  EXPECT_EQ(seqs_of(again), (std::vector<std::uint64_t>{0, 1, 2, 3, 4}));
  EXPECT_EQ(attempts_of(again), (std::vector<std::uint32_t>{1, 2, 2, 1, 1}));
}

TEST(BrokerCoreLiveness, AbandonedOnTheLastAttemptIsDead) {
  Config config = test_config();
  config.max_attempts = 1;
  BrokerDriver b(config);
  b.connect_producer("p1");
  b.connect_consumer("c1", 4);
  b.send_tasks("p1", {0, 1});
  ASSERT_EQ(b.flush_and_take_tasks("c1").size(), 2u);
  b.to_backend(route_of("c1"), goodbye({ref("p1", 1)}, {ref("p1", 0)}));
  b.flush();
  auto results = b.take_results("p1");
  ASSERT_EQ(results.size(), 1u);
  EXPECT_EQ(results[0].seq(), 0u);
  EXPECT_EQ(results[0].status(), wire::DEAD);
  EXPECT_EQ(b.core().queue_depth(), 1u) << "the released one is not dead: it never ran";
}

TEST(BrokerCoreLiveness, GoodbyeWithNothingHeldEndsTheSessionQuietly) {
  BrokerDriver b;
  b.connect_consumer("c1", 4);
  b.to_backend(route_of("c1"), goodbye());
  EXPECT_EQ(b.core().consumers(), 0u);
  EXPECT_EQ(b.core().stats().redelivered, 0u);
  EXPECT_TRUE(b.take_all().empty());
}

}  // namespace
}  // namespace conveyor::broker::testing
