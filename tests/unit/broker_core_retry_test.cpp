// broker::Core and DESIGN.md §7.2: retries wait in a bounded delay queue (--retry-delay, doubling
// per attempt, full jitter) and then join the queue's tail; a delivery cut short at a consumer's
// --task-timeout goes again at once; --max-attempts still ends either as dead.
#include <gtest/gtest.h>

#include <algorithm>
#include <set>

#include "conveyor/broker/retry_delay.hpp"
#include "unit/broker_driver.hpp"

namespace conveyor::broker::testing {
namespace {

Config retry_config() {
  Config config = test_config();
  config.retry_delay = milliseconds(1000);
  config.retry_delay_max = milliseconds(4000);
  config.random_seed = 42;
  return config;
}

wire::Result retry_result(const wire::Task& task) {
  wire::Result r = result(task.producer(), task.seq(), wire::FAILED, "", task.attempt());
  r.set_retry(true);
  r.set_error("remote busy");
  return r;
}

wire::Result timed_out_result(const wire::Task& task) {
  wire::Result r = result(task.producer(), task.seq(), wire::FAILED, "", task.attempt());
  r.set_timed_out(true);
  r.set_error("timed out after 500 ms (--task-timeout)");
  return r;
}

TEST(RetryDelay, TheBoundDoublesPerAttemptUpToTheMaximum) {
  RetryDelay delay(milliseconds(1000), milliseconds(60000), 1);
  EXPECT_EQ(delay.bound(1), milliseconds(1000));
  EXPECT_EQ(delay.bound(2), milliseconds(2000));
  EXPECT_EQ(delay.bound(3), milliseconds(4000));
  EXPECT_EQ(delay.bound(6), milliseconds(32000));
  EXPECT_EQ(delay.bound(7), milliseconds(60000));
  EXPECT_EQ(delay.bound(1000), milliseconds(60000)) << "no overflow however many attempts";
}

TEST(RetryDelay, EveryWaitIsAFullJitterDrawWithinTheBound) {
  RetryDelay delay(milliseconds(1000), milliseconds(60000), 7);
  for (std::uint32_t attempts = 1; attempts <= 8; ++attempts) {
    std::set<Duration::rep> seen;
    Duration longest{};
    for (int i = 0; i < 200; ++i) {
      const Duration wait = delay.next(attempts);
      ASSERT_GE(wait, Duration::zero());
      ASSERT_LE(wait, delay.bound(attempts));
      longest = std::max(longest, wait);
      seen.insert(wait.count());
    }
    EXPECT_GT(seen.size(), 150u) << "spread, not one value";
    EXPECT_GT(longest, delay.bound(attempts) / 2) << "draws reach the upper half";
  }
}

TEST(RetryDelay, AZeroDelayRetriesAtOnce) {
  RetryDelay delay(Duration::zero(), milliseconds(60000), 1);
  EXPECT_EQ(delay.next(1), Duration::zero());
}

TEST(BrokerCoreRetry, ARetryWaitsItsDelayThenJoinsTheQueuesTail) {
  BrokerDriver b(retry_config());
  b.connect_producer("p1");
  b.connect_consumer("c1", 1);
  b.send_tasks("p1", {0, 1});
  const auto first = b.flush_and_take_tasks("c1");
  ASSERT_EQ(seqs_of(first), (std::vector<std::uint64_t>{0}));
  b.send_results("c1", {retry_result(first[0])});
  const auto next = b.flush_and_take_tasks("c1");
  EXPECT_EQ(seqs_of(next), (std::vector<std::uint64_t>{1})) << "the retry waits; 1 goes first";
  EXPECT_EQ(b.core().delayed(), 1u);
  b.complete("c1", next);
  b.flush();
  EXPECT_TRUE(b.flush_and_take_tasks("c1").empty()) << "not before its time";
  b.advance(milliseconds(1000));  // the first retry waits at most --retry-delay
  const auto again = b.flush_and_take_tasks("c1");
  ASSERT_EQ(seqs_of(again), (std::vector<std::uint64_t>{0}));
  EXPECT_EQ(again[0].attempt(), 2u);
  EXPECT_EQ(b.core().delayed(), 0u);
  EXPECT_EQ(b.core().stats().retried, 1u);
}

// Advances 10 ms at a time until consumer c1 is given something; how long that took.
Duration wait_for_delivery(BrokerDriver& b, std::vector<wire::Task>& delivered) {
  Duration waited{};
  while ((delivered = b.flush_and_take_tasks("c1")).empty() && waited < milliseconds(10000)) {
    b.advance(milliseconds(10));
    waited += milliseconds(10);
  }
  return waited;
}

TEST(BrokerCoreRetry, WaitsAreBoundedByADelayThatDoublesPerAttempt) {
  BrokerDriver b(retry_config());
  b.connect_producer("p1");
  b.connect_consumer("c1", 1);
  b.send_tasks("p1", {0});
  std::vector<wire::Task> tasks = b.flush_and_take_tasks("c1");
  const RetryDelay bounds(milliseconds(1000), milliseconds(4000), 0);
  for (std::uint32_t attempt = 1; attempt <= 2; ++attempt) {
    ASSERT_EQ(attempts_of(tasks), (std::vector<std::uint32_t>{attempt}));
    b.send_results("c1", {retry_result(tasks[0])});
    EXPECT_LE(wait_for_delivery(b, tasks), bounds.bound(attempt)) << "attempt " << attempt;
  }
  EXPECT_EQ(attempts_of(tasks), (std::vector<std::uint32_t>{3}));
}

TEST(BrokerCoreRetry, ARetryAfterTheLastAttemptIsDeadWithItsLastError) {
  Config config = retry_config();
  config.retry_delay = Duration::zero();
  BrokerDriver b(config);
  b.connect_producer("p1");
  b.connect_consumer("c1", 1);
  b.send_tasks("p1", {0});
  for (int attempt = 1; attempt <= 3; ++attempt) {
    const auto tasks = b.flush_and_take_tasks("c1");
    ASSERT_EQ(tasks.size(), 1u);
    b.send_results("c1", {retry_result(tasks[0])});
  }
  b.flush();
  const auto results = b.take_results("p1");
  ASSERT_EQ(results.size(), 1u);
  EXPECT_EQ(results[0].status(), wire::DEAD);
  EXPECT_EQ(results[0].attempts(), 3u);
  EXPECT_NE(results[0].error().find("remote busy"), std::string::npos) << results[0].error();
}

TEST(BrokerCoreRetry, AFailureThatAsksForNoRetryIsFinal) {
  BrokerDriver b(retry_config());
  b.connect_producer("p1");
  b.connect_consumer("c1", 1);
  b.send_tasks("p1", {0});
  b.complete("c1", b.flush_and_take_tasks("c1"), wire::FAILED);
  b.flush();
  const auto results = b.take_results("p1");
  ASSERT_EQ(results.size(), 1u);
  EXPECT_EQ(results[0].status(), wire::FAILED);
  EXPECT_EQ(b.core().stats().retried, 0u);
}

TEST(BrokerCoreRetry, DelayedRetriesCountAgainstTheQueueCapacity) {
  Config config = retry_config();
  config.queue_capacity = 2;
  BrokerDriver b(config);
  EXPECT_EQ(b.connect_producer("p1"), 2u);
  b.connect_consumer("c1", 2);
  b.send_tasks("p1", {0, 1});
  const auto tasks = b.flush_and_take_tasks("c1");
  ASSERT_EQ(tasks.size(), 2u);
  b.take_producer("p1");  // the credit for the room the dispatch freed
  b.send_results("c1", {retry_result(tasks[0]), retry_result(tasks[1])});
  b.flush();
  EXPECT_EQ(b.core().delayed(), 2u);
  EXPECT_EQ(granted(b.take_producer("p1")), 0u) << "the delay queue holds the queue's room";
}

TEST(BrokerCoreRetry, TheDrainWaitsForADelayedRetry) {
  BrokerDriver b(retry_config());
  b.connect_producer("p1");
  b.connect_consumer("c1", 1);
  b.send_tasks("p1", {0});
  b.send_pill("p1", 1);
  b.send_results("c1", {retry_result(b.flush_and_take_tasks("c1")[0])});
  b.flush();
  EXPECT_FALSE(b.core().drained());
  b.advance(milliseconds(1000));
  b.complete("c1", b.flush_and_take_tasks("c1"));
  b.flush();
  b.take_and_ack_results("p1");
  b.flush();
  EXPECT_TRUE(b.core().drained());
}

TEST(BrokerCoreRetry, ATimedOutDeliveryGoesAgainAtOnceCountingTheAttempt) {
  BrokerDriver b(retry_config());
  b.connect_producer("p1");
  b.connect_consumer("c1", 1);
  b.send_tasks("p1", {0});
  for (std::uint32_t attempt = 1; attempt <= 3; ++attempt) {
    const auto tasks = b.flush_and_take_tasks("c1");
    ASSERT_EQ(attempts_of(tasks), (std::vector<std::uint32_t>{attempt})) << "no wait between";
    b.send_results("c1", {timed_out_result(tasks[0])});
  }
  b.flush();
  const auto results = b.take_results("p1");
  ASSERT_EQ(results.size(), 1u);
  EXPECT_EQ(results[0].status(), wire::DEAD);
  EXPECT_NE(results[0].error().find("timed out after 500 ms"), std::string::npos)
      << results[0].error();
  EXPECT_EQ(b.core().stats().timed_out, 3u);
  EXPECT_EQ(b.core().stats().redelivered, 2u);
}

TEST(BrokerCoreRetry, RetryFailedMakesEveryFailureARetry) {
  Config config = retry_config();
  config.retry_failed = true;
  BrokerDriver b(config);
  b.connect_producer("p1");
  b.connect_consumer("c1", 1);
  b.send_tasks("p1", {0});
  b.complete("c1", b.flush_and_take_tasks("c1"), wire::FAILED);
  b.flush();
  EXPECT_EQ(b.core().delayed(), 1u);
  EXPECT_TRUE(b.take_results("p1").empty());
}

}  // namespace
}  // namespace conveyor::broker::testing
