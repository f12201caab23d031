// broker::Run on its own: each poison-pill rule of DESIGN.md §2 that it decides, with producers
// named by slot. broker_core_pill_test.cpp runs the same rules through broker::Core.
#include "conveyor/broker/run.hpp"

#include <gtest/gtest.h>

namespace conveyor::broker {
namespace {

const auto no_acks_awaited = [](std::uint32_t) { return false; };

TEST(BrokerRun, NoProducerNoDrain) {
  broker::Run run(std::nullopt, false);
  EXPECT_FALSE(run.ready_to_drain(false, no_acks_awaited));
}

TEST(BrokerRun, Rule1EveryProducerThatSaidHelloMustPill) {
  broker::Run run(std::nullopt, false);
  EXPECT_TRUE(run.on_hello(0, false)) << "the first producer starts the run's clock";
  EXPECT_FALSE(run.on_hello(1, false));
  EXPECT_TRUE(run.on_pill(0));
  EXPECT_FALSE(run.ready_to_drain(false, no_acks_awaited));
  EXPECT_TRUE(run.on_pill(1));
  EXPECT_TRUE(run.ready_to_drain(false, no_acks_awaited));
}

TEST(BrokerRun, Rule1ASecondPillFromOneProducerCountsForNothing) {
  broker::Run run(2, false);
  run.on_hello(0, false);
  EXPECT_TRUE(run.on_pill(0));
  EXPECT_FALSE(run.on_pill(0));
  EXPECT_EQ(run.done(), 1u);
  EXPECT_FALSE(run.ready_to_drain(false, no_acks_awaited));
}

TEST(BrokerRun, Rule1AProducerWithoutAHelloInThisRunCannotPill) {
  broker::Run run(std::nullopt, false);
  run.on_hello(0, false);
  EXPECT_FALSE(run.on_pill(3));
  EXPECT_EQ(run.done(), 0u);
}

TEST(BrokerRun, Rule1ProducersNIsAFloor) {
  broker::Run run(2, false);
  run.on_hello(0, false);
  run.on_pill(0);
  EXPECT_EQ(run.pills_needed(), 2u);
  EXPECT_FALSE(run.ready_to_drain(false, no_acks_awaited)) << "waits for a second producer";
  run.on_hello(1, false);
  run.on_hello(2, false);
  EXPECT_EQ(run.pills_needed(), 3u) << "and not a cap";
  run.on_pill(1);
  EXPECT_FALSE(run.ready_to_drain(false, no_acks_awaited));
  run.on_pill(2);
  EXPECT_TRUE(run.ready_to_drain(false, no_acks_awaited));
}

TEST(BrokerRun, Rule2TheDrainWaitsForEveryAcknowledgement) {
  broker::Run run(std::nullopt, false);
  run.on_hello(0, false);
  run.on_pill(0);
  EXPECT_FALSE(run.ready_to_drain(false, [](std::uint32_t slot) { return slot == 0; }));
  EXPECT_TRUE(run.ready_to_drain(false, no_acks_awaited));
}

TEST(BrokerRun, Rule2AVanishedProducerCountsAsPilledAndIsNotWaitedFor) {
  broker::Run run(std::nullopt, false);
  run.on_hello(0, false);
  run.on_hello(1, false);
  run.on_pill(0);
  run.on_vanished(1);
  EXPECT_TRUE(run.vanished(1));
  EXPECT_TRUE(run.ready_to_drain(false, [](std::uint32_t slot) { return slot == 1; }));
}

TEST(BrokerRun, Rule2APilledProducerThatVanishesStillCountsOnce) {
  broker::Run run(2, false);
  run.on_hello(0, false);
  run.on_pill(0);
  run.on_vanished(0);  // gone with results unacknowledged
  EXPECT_EQ(run.done(), 1u);
  EXPECT_FALSE(run.ready_to_drain(false, no_acks_awaited)) << "a second producer is expected";
  run.on_hello(0, true);
  EXPECT_EQ(run.done(), 1u) << "back, and still pilled";
}

TEST(BrokerRun, Rule2AVanishedProducerThatComesBackIsWaitedForAgain) {
  broker::Run run(std::nullopt, false);
  run.on_hello(0, false);
  run.on_vanished(0);
  run.on_hello(0, true);
  EXPECT_FALSE(run.vanished(0));
  EXPECT_EQ(run.done(), 0u);
  EXPECT_FALSE(run.ready_to_drain(false, no_acks_awaited));
}

TEST(BrokerRun, Rule2TheRunDrainsOnce) {
  broker::Run run(std::nullopt, false);
  run.on_hello(0, false);
  run.on_pill(0);
  run.declare_drained();
  EXPECT_TRUE(run.drained());
  EXPECT_FALSE(run.ready_to_drain(false, no_acks_awaited));
}

TEST(BrokerRun, Rule2AfterTheDrainANewProducerProcessStartsANewRun) {
  broker::Run run(std::nullopt, true);
  run.on_hello(0, false);
  run.on_pill(0);
  run.declare_drained();
  EXPECT_TRUE(run.on_hello(0, false)) << "never welcomed: new work under a known id";
  EXPECT_FALSE(run.drained());
  EXPECT_FALSE(run.pilled(0));
  EXPECT_EQ(run.producers(), 1u);
}

TEST(BrokerRun, Rule2AReconnectingProducerOfTheDrainedRunIsToldItIsOver) {
  broker::Run run(std::nullopt, true);
  run.on_hello(0, false);
  run.on_pill(0);
  run.declare_drained();
  EXPECT_FALSE(run.on_hello(0, true));
  EXPECT_TRUE(run.drained());
}

TEST(BrokerRun, Rule4ConsumersAreReleasedByTheDrainUnlessInServiceMode) {
  broker::Run batch(std::nullopt, false);
  EXPECT_FALSE(batch.consumers_released(false));
  batch.declare_drained();
  EXPECT_TRUE(batch.consumers_released(false));
  broker::Run service(std::nullopt, true);
  service.declare_drained();
  EXPECT_FALSE(service.consumers_released(false));
  EXPECT_TRUE(service.consumers_released(true)) << "a stop ends them";
}

TEST(BrokerRun, Rule5AStopDrainsWithoutWaitingForPills) {
  broker::Run run(3, false);
  run.on_hello(0, false);
  EXPECT_FALSE(run.ready_to_drain(false, no_acks_awaited));
  EXPECT_TRUE(run.ready_to_drain(true, no_acks_awaited));
  EXPECT_FALSE(run.ready_to_drain(true, [](std::uint32_t) { return true; }))
      << "but still for the results of a connected producer";
}

}  // namespace
}  // namespace conveyor::broker
