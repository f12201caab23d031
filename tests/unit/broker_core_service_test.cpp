// broker::Core in --service mode: a drain ends a run for its producers but keeps the consumers
// for the next run; only a stop (SIGTERM/SIGINT) pills them. Also: a new producer process under a
// known id starts a new run after the drain, whatever the mode.
#include <gtest/gtest.h>

#include <cstdlib>

#include "conveyor/broker/flags.hpp"
#include "unit/broker_driver.hpp"

namespace conveyor::broker::testing {
namespace {

std::size_t pills(const std::vector<wire::Envelope>& envelopes) {
  return count_body(envelopes, wire::Envelope::kPill);
}

std::size_t drained_count(const std::vector<wire::Envelope>& envelopes) {
  return count_body(envelopes, wire::Envelope::kDrained);
}

Config service_config() {
  Config config = test_config();
  config.service = true;
  return config;
}

// Producer `p` sends seqs [0, n) and its pill; consumers `cs` run them; `p` acknowledges.
void run_producer(BrokerDriver& b, const std::string& p, const std::vector<std::string>& cs,
                  std::uint64_t n) {
  b.send_tasks(p, seq_range(0, n));
  b.send_pill(p, n);
  b.flush();
  for (const auto& c : cs)
    b.complete(c, b.take_tasks(c));
  b.flush();
  ASSERT_EQ(b.take_and_ack_results(p).size(), n);
  b.flush();
}

TEST(BrokerCoreService, DrainTellsProducersButKeepsConsumers) {
  BrokerDriver b(service_config());
  b.connect_producer("p1");
  b.connect_consumer("c1", 10);
  b.connect_consumer("c2", 10);
  run_producer(b, "p1", {"c1", "c2"}, 3);
  ASSERT_TRUE(b.core().drained());
  EXPECT_FALSE(b.core().finished());
  EXPECT_EQ(drained_count(b.take_producer("p1")), 1u);
  EXPECT_EQ(pills(b.take_consumer("c1")), 0u);
  EXPECT_EQ(pills(b.take_consumer("c2")), 0u);
  EXPECT_EQ(b.core().consumers(), 2u);
}

TEST(BrokerCoreService, ConsumerJoiningAfterTheDrainIsWelcomedWithoutAPill) {
  BrokerDriver b(service_config());
  b.connect_producer("p1");
  b.send_pill("p1", 0);
  b.flush();
  ASSERT_TRUE(b.core().drained());
  b.consumer_hello("late", 4);
  b.flush();
  auto got = b.take_consumer("late");
  ASSERT_FALSE(got.empty());
  EXPECT_TRUE(got[0].has_welcome());
  EXPECT_EQ(pills(got), 0u);
}

TEST(BrokerCoreService, NextRunUsesTheConsumersOfTheLastOne) {
  BrokerDriver b(service_config());
  b.connect_producer("p1");
  b.connect_consumer("c1", 10);
  run_producer(b, "p1", {"c1"}, 3);
  ASSERT_TRUE(b.core().drained());
  b.take_all();

  EXPECT_GT(b.connect_producer("p2"), 0u);
  EXPECT_FALSE(b.core().drained()) << "a new run began";
  run_producer(b, "p2", {"c1"}, 5);
  ASSERT_TRUE(b.core().drained());
  auto got = b.take_producer("p2");
  ASSERT_EQ(drained_count(got), 1u);
  for (const auto& e : got) {
    if (e.has_drained()) {
      EXPECT_EQ(e.drained().summary().tasks(), 5u) << "only this run's tasks";
    }
  }
  EXPECT_EQ(pills(b.take_consumer("c1")), 0u);
}

TEST(BrokerCoreService, StopAfterTheDrainPillsEveryConsumerOnceAndFinishes) {
  BrokerDriver b(service_config());
  b.connect_producer("p1");
  b.connect_consumer("c1", 10);
  b.connect_consumer("c2", 10);
  run_producer(b, "p1", {"c1", "c2"}, 2);
  ASSERT_TRUE(b.core().drained());
  b.take_all();

  b.begin_stop();
  b.flush();
  EXPECT_TRUE(b.core().finished());
  EXPECT_EQ(pills(b.take_consumer("c1")), 1u);
  EXPECT_EQ(pills(b.take_consumer("c2")), 1u);
  b.flush();
  EXPECT_EQ(pills(b.take_consumer("c1")), 0u) << "exactly one pill";
}

TEST(BrokerCoreService, StopBeforeTheDrainFinishesHeldTasksThenPills) {
  BrokerDriver b(service_config());
  b.connect_producer("p1");
  b.connect_consumer("c1", 10);
  b.send_tasks("p1", {0, 1});
  auto tasks = b.flush_and_take_tasks("c1");
  ASSERT_EQ(tasks.size(), 2u);
  b.begin_stop();
  b.flush();
  EXPECT_FALSE(b.core().finished());
  EXPECT_EQ(pills(b.take_consumer("c1")), 0u) << "a pill never overtakes work";
  b.complete("c1", tasks);
  b.flush();
  b.take_and_ack_results("p1");
  b.flush();
  EXPECT_TRUE(b.core().finished());
  EXPECT_EQ(pills(b.take_consumer("c1")), 1u);
}

TEST(BrokerCoreService, ConsumerJoiningAfterTheStopIsPilledAtOnce) {
  BrokerDriver b(service_config());
  b.connect_producer("p1");
  b.connect_consumer("c1", 1);
  b.send_tasks("p1", {0});
  auto tasks = b.flush_and_take_tasks("c1");
  b.send_pill("p1", 1);
  b.complete("c1", tasks);
  b.flush();
  b.take_and_ack_results("p1");
  b.flush();
  ASSERT_TRUE(b.core().drained());
  b.begin_stop();
  b.flush();
  b.consumer_hello("late", 4);
  EXPECT_EQ(pills(b.take_consumer("late")), 1u);
}

TEST(BrokerCoreService, NewProducerProcessUnderAKnownIdStartsANewRun) {
  for (const bool service : {false, true}) {
    Config config = test_config();
    config.service = service;
    BrokerDriver b(config);
    b.connect_producer("p1");
    b.connect_consumer("c1", 10);
    run_producer(b, "p1", {"c1"}, 2);
    ASSERT_TRUE(b.core().drained());
    b.take_all();

    b.producer_hello_on("p1", "r-p1-run2", /*resuming=*/false);
    b.flush();
    EXPECT_FALSE(b.core().drained()) << "service=" << service;
    auto got = b.take(Side::frontend, "r-p1-run2");
    EXPECT_EQ(drained_count(got), 0u) << "the new process is not told the old run is over";
    EXPECT_GT(granted(got), 0u) << "it gets credit for its tasks";
  }
}

TEST(BrokerCoreService, ResumingProducerOfTheDrainedRunIsToldItIsOver) {
  BrokerDriver b(service_config());
  b.connect_producer("p1");
  b.connect_consumer("c1", 10);
  run_producer(b, "p1", {"c1"}, 2);
  b.take_all();
  b.producer_hello_on("p1", "r-p1-again", /*resuming=*/true);
  EXPECT_TRUE(b.core().drained());
  EXPECT_EQ(drained_count(b.take(Side::frontend, "r-p1-again")), 1u);
}

TEST(BrokerCoreService, ServiceFlagExcludesExitWhenDrained) {
  Config config;
  LogOptions log;
  const char* ok[] = {"conveyor-broker", "--service"};
  EXPECT_EQ(parse_flags(2, ok, config, log), std::nullopt);
  EXPECT_TRUE(config.service);
  Config other;
  const char* both[] = {"conveyor-broker", "--service", "--exit-when-drained"};
  const auto status = parse_flags(3, both, other, log);
  ASSERT_TRUE(status.has_value());
  EXPECT_EQ(*status, 2);
}

TEST(BrokerCoreService, ServiceFalseFromTheEnvironmentAllowsExitWhenDrained) {
  ::setenv("CONVEYOR_SERVICE", "false", 1);
  ::setenv("CONVEYOR_EXIT_WHEN_DRAINED", "true", 1);
  Config config;
  LogOptions log;
  const char* argv[] = {"conveyor-broker"};
  const auto status = parse_flags(1, argv, config, log);
  ::unsetenv("CONVEYOR_SERVICE");
  ::unsetenv("CONVEYOR_EXIT_WHEN_DRAINED");
  EXPECT_EQ(status, std::nullopt);
  EXPECT_FALSE(config.service);
  EXPECT_TRUE(config.exit_when_drained);
}

}  // namespace
}  // namespace conveyor::broker::testing
