// broker::Core: sessions begin with Hello on the right socket, with a valid id and capacity.
#include <gtest/gtest.h>

#include "unit/broker_driver.hpp"

namespace conveyor::broker::testing {
namespace {

TEST(BrokerCoreHandshake, ProducerHelloOnFrontendIsWelcomedThenGrantedCreditAtFlush) {
  Config config = test_config();
  config.max_payload_bytes = 1000;
  config.max_message_bytes = 5000;
  BrokerDriver b(config);
  b.producer_hello("p1");
  auto before_flush = b.take_producer("p1");
  ASSERT_EQ(before_flush.size(), 1u);
  ASSERT_TRUE(before_flush[0].has_welcome());
  const auto& welcome = before_flush[0].welcome();
  EXPECT_NE(welcome.broker_instance(), 0u);
  EXPECT_EQ(welcome.heartbeat_ms(), 1000u);
  EXPECT_EQ(welcome.liveness(), 3u);
  EXPECT_EQ(welcome.max_payload_bytes(), 1000u);
  EXPECT_EQ(welcome.max_message_bytes(), 5000u);
  EXPECT_EQ(b.core().producers_connected(), 1u);

  b.flush();
  auto after_flush = b.take_producer("p1");
  ASSERT_EQ(after_flush.size(), 1u);
  ASSERT_TRUE(after_flush[0].has_credit());
  EXPECT_EQ(after_flush[0].credit().grant(), 100u);
}

TEST(BrokerCoreHandshake, ConsumerHelloOnBackendIsWelcomed) {
  BrokerDriver b;
  b.consumer_hello("c1", 4);
  auto got = b.take_consumer("c1");
  ASSERT_EQ(got.size(), 1u);
  EXPECT_TRUE(got[0].has_welcome());
  EXPECT_EQ(b.core().consumers(), 1u);
  b.flush();
  EXPECT_TRUE(b.take_consumer("c1").empty()) << "nothing to dispatch, nothing to say";
}

TEST(BrokerCoreHandshake, ProducerHelloOnBackendIsAFatalWrongSocket) {
  BrokerDriver b;
  b.to_backend("r-p1", hello(wire::PRODUCER, "p1"));
  auto errors = errors_in(b.take(Side::backend, "r-p1"));
  ASSERT_EQ(errors.size(), 1u);
  EXPECT_EQ(errors[0].code(), wire::WRONG_SOCKET);
  EXPECT_TRUE(errors[0].fatal());
  EXPECT_EQ(bad(b.core(), BadInput::wrong_socket), 1u);
  EXPECT_EQ(b.core().consumers(), 0u);
  EXPECT_EQ(b.core().producers_connected(), 0u);
}

TEST(BrokerCoreHandshake, ConsumerHelloOnFrontendIsAFatalWrongSocket) {
  BrokerDriver b;
  b.to_frontend("r-c1", hello(wire::CONSUMER, "c1", 4));
  auto errors = errors_in(b.take(Side::frontend, "r-c1"));
  ASSERT_EQ(errors.size(), 1u);
  EXPECT_EQ(errors[0].code(), wire::WRONG_SOCKET);
  EXPECT_TRUE(errors[0].fatal());
  EXPECT_EQ(bad(b.core(), BadInput::wrong_socket), 1u);
  EXPECT_EQ(b.core().producers_connected(), 0u);
  b.flush();
  EXPECT_TRUE(b.take_all().empty()) << "no credit for a refused peer";
}

TEST(BrokerCoreHandshake, HelloWithoutARoleIsAFatalInvalidHello) {
  BrokerDriver b;
  b.to_frontend("r-x", hello(wire::ROLE_UNSPECIFIED, "x"));
  auto errors = errors_in(b.take(Side::frontend, "r-x"));
  ASSERT_EQ(errors.size(), 1u);
  EXPECT_EQ(errors[0].code(), wire::INVALID_HELLO);
  EXPECT_TRUE(errors[0].fatal());
  EXPECT_EQ(bad(b.core(), BadInput::invalid_hello), 1u);
  EXPECT_EQ(bad(b.core(), BadInput::wrong_socket), 0u);
}

TEST(BrokerCoreHandshake, HelloWithAnInvalidIdIsAFatalInvalidHello) {
  BrokerDriver b;
  const std::vector<std::string> ids = {"", "has space", "p1:0", std::string(65, 'a'), "é"};
  for (const auto& id : ids) {
    b.to_frontend("r-bad", hello(wire::PRODUCER, id));
    b.to_backend("r-bad", hello(wire::CONSUMER, id, 4));
  }
  auto front = errors_in(b.take(Side::frontend, "r-bad"));
  auto back = errors_in(b.take(Side::backend, "r-bad"));
  ASSERT_EQ(front.size(), ids.size());
  ASSERT_EQ(back.size(), ids.size());
  for (const auto& e : front) {
    EXPECT_EQ(e.code(), wire::INVALID_HELLO);
    EXPECT_TRUE(e.fatal());
  }
  for (const auto& e : back)
    EXPECT_EQ(e.code(), wire::INVALID_HELLO);
  EXPECT_EQ(bad(b.core(), BadInput::invalid_hello), 2 * ids.size());
  EXPECT_EQ(b.core().producers_connected(), 0u);
  EXPECT_EQ(b.core().consumers(), 0u);
}

TEST(BrokerCoreHandshake, LongestValidIdIsAccepted) {
  BrokerDriver b;
  const std::string id(64, 'z');
  b.producer_hello(id);
  auto got = b.take_producer(id);
  ASSERT_EQ(got.size(), 1u);
  EXPECT_TRUE(got[0].has_welcome());
}

TEST(BrokerCoreHandshake, ConsumerHelloWithZeroCapacityIsAFatalInvalidHello) {
  BrokerDriver b;
  b.consumer_hello("c1", 0);
  auto errors = errors_in(b.take_consumer("c1"));
  ASSERT_EQ(errors.size(), 1u);
  EXPECT_EQ(errors[0].code(), wire::INVALID_HELLO);
  EXPECT_TRUE(errors[0].fatal());
  EXPECT_EQ(bad(b.core(), BadInput::invalid_hello), 1u);
  EXPECT_EQ(b.core().consumers(), 0u);
}

TEST(BrokerCoreHandshake, ConsumerHelloOverMaxConsumerCapacityIsInvalid) {
  Config config = test_config();
  config.max_consumer_capacity = 8;
  BrokerDriver b(config);
  b.consumer_hello("c1", 9);
  auto errors = errors_in(b.take_consumer("c1"));
  ASSERT_EQ(errors.size(), 1u);
  EXPECT_EQ(errors[0].code(), wire::INVALID_HELLO);
  b.consumer_hello("c2", 8);
  auto got = b.take_consumer("c2");
  ASSERT_EQ(got.size(), 1u);
  EXPECT_TRUE(got[0].has_welcome());
}

TEST(BrokerCoreHandshake, MessagesBeforeHelloAreNotWelcomed) {
  BrokerDriver b;
  b.send_tasks("p1", {0, 1});
  b.send_pill("p1", 2);
  b.send_ack("p1", {0});
  b.send_results("c1", {result("p1", 0)});
  b.to_backend(route_of("c1"), consumer_credit(4));
  b.to_backend(route_of("c1"), heartbeat());

  auto front = errors_in(b.take_producer("p1"));
  auto back = errors_in(b.take_consumer("c1"));
  ASSERT_EQ(front.size(), 3u);
  ASSERT_EQ(back.size(), 3u);
  for (const auto& e : front) {
    EXPECT_EQ(e.code(), wire::NOT_WELCOMED);
    EXPECT_FALSE(e.fatal()) << "saying hello fixes it";
  }
  for (const auto& e : back)
    EXPECT_EQ(e.code(), wire::NOT_WELCOMED);
  EXPECT_EQ(bad(b.core(), BadInput::not_welcomed), 6u);
  EXPECT_EQ(b.core().tasks_held(), 0u);
  EXPECT_EQ(b.core().stats().tasks_received, 0u);
}

TEST(BrokerCoreHandshake, HelloAfterNotWelcomedStartsTheSession) {
  BrokerDriver b;
  b.send_tasks("p1", {0});
  ASSERT_EQ(errors_in(b.take_producer("p1")).size(), 1u);
  EXPECT_EQ(b.connect_producer("p1"), 100u);
  b.send_tasks("p1", {0});
  EXPECT_TRUE(b.take_producer("p1").empty());
  EXPECT_EQ(b.core().tasks_held(), 1u);
}

TEST(BrokerCoreHandshake, MaxPeersRefusesTheNextPeerWithTooManyPeers) {
  Config config = test_config();
  config.max_peers = 2;
  BrokerDriver b(config);
  b.connect_producer("p1");
  b.connect_consumer("c1", 4);
  b.consumer_hello("c2", 4);
  b.producer_hello("p2");
  auto c2 = errors_in(b.take_consumer("c2"));
  auto p2 = errors_in(b.take_producer("p2"));
  ASSERT_EQ(c2.size(), 1u);
  ASSERT_EQ(p2.size(), 1u);
  EXPECT_EQ(c2[0].code(), wire::TOO_MANY_PEERS);
  EXPECT_EQ(p2[0].code(), wire::TOO_MANY_PEERS);
  EXPECT_FALSE(c2[0].fatal()) << "a slot may free up later";
  EXPECT_EQ(bad(b.core(), BadInput::too_many_peers), 2u);
  EXPECT_EQ(b.core().consumers(), 1u);
  EXPECT_EQ(b.core().producers_connected(), 1u);
}

TEST(BrokerCoreHandshake, MaxPeersStillLetsAConnectedPeerSayHelloAgain) {
  Config config = test_config();
  config.max_peers = 2;
  BrokerDriver b(config);
  b.connect_producer("p1");
  b.connect_consumer("c1", 4);
  b.producer_hello("p1");
  b.consumer_hello("c1", 4);
  auto p1 = b.take_producer("p1");
  auto c1 = b.take_consumer("c1");
  ASSERT_EQ(p1.size(), 1u);
  ASSERT_EQ(c1.size(), 1u);
  EXPECT_TRUE(p1[0].has_welcome());
  EXPECT_TRUE(c1[0].has_welcome());
  EXPECT_EQ(bad(b.core(), BadInput::too_many_peers), 0u);
}

TEST(BrokerCoreHandshake, MaxPeersSlotFreesWhenAPeerSaysGoodbye) {
  Config config = test_config();
  config.max_peers = 1;
  BrokerDriver b(config);
  b.connect_consumer("c1", 4);
  b.consumer_hello("c2", 4);
  ASSERT_EQ(errors_in(b.take_consumer("c2")).size(), 1u);
  b.to_backend(route_of("c1"), goodbye());
  b.connect_consumer("c2", 4);
  EXPECT_EQ(b.core().consumers(), 1u);
}

TEST(BrokerCoreHandshake, ProducerHelloFromANewRouteReplacesTheOldSession) {
  BrokerDriver b;
  b.connect_producer("p1");
  b.producer_hello_on("p1", "r-p1-again");
  auto got = b.take(Side::frontend, "r-p1-again");
  ASSERT_EQ(got.size(), 1u);
  EXPECT_TRUE(got[0].has_welcome());
  EXPECT_EQ(b.core().producers_connected(), 1u);
  b.send_tasks("p1", {0});  // on the old route
  auto old = errors_in(b.take_producer("p1"));
  ASSERT_EQ(old.size(), 1u);
  EXPECT_EQ(old[0].code(), wire::NOT_WELCOMED);
}

TEST(BrokerCoreHandshake, ProducerHelloAgainOnTheSameRouteIsANewSessionWithNewCredit) {
  BrokerDriver b;
  EXPECT_EQ(b.connect_producer("p1"), 100u);
  EXPECT_EQ(b.connect_producer("p1"), 100u) << "the old session's credit died with it";
  EXPECT_EQ(b.core().producers_connected(), 1u);
}

TEST(BrokerCoreHandshake, HeartbeatFromAWelcomedPeerNeedsNoReply) {
  BrokerDriver b;
  b.connect_producer("p1");
  b.connect_consumer("c1", 2);
  b.to_frontend(route_of("p1"), heartbeat());
  b.to_backend(route_of("c1"), heartbeat());
  EXPECT_TRUE(b.take_all().empty());
  EXPECT_EQ(bad_total(b.core()), 0u);
}

}  // namespace
}  // namespace conveyor::broker::testing
