// producer::Session: hello and welcome, timeouts, lost links, errors and heartbeats.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "unit/producer_session_fixture.hpp"

namespace conveyor::producer {
namespace {

using namespace conveyor::testing;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::Not;
using Body = wire::Envelope::BodyCase;

TEST_F(ProducerSession, SaysHelloAsAProducerWithItsId) {
  session.on_connect(now);
  auto out = take_outbox(session);
  ASSERT_THAT(bodies(out), ElementsAre(Body::kHello));
  const auto& hello = out[0].hello();
  EXPECT_EQ(hello.role(), wire::PRODUCER);
  EXPECT_EQ(hello.id(), "p1");
  EXPECT_NE(hello.session(), 0u);
  EXPECT_EQ(hello.capacity(), 0u);
  EXPECT_THAT(hello.agent(), HasSubstr("conveyor-producer"));
  EXPECT_EQ(session.phase(), Session::Phase::connecting);
}

TEST_F(ProducerSession, EachConnectionIsANewSession) {
  session.on_connect(now);
  session.on_connect(now);
  auto out = take_outbox(session);
  ASSERT_THAT(bodies(out), ElementsAre(Body::kHello, Body::kHello));
  EXPECT_NE(out[0].hello().session(), out[1].hello().session());
}

TEST_F(ProducerSession, SendsNothingBeforeWelcome) {
  session.on_connect(now);
  take_outbox(session);
  add(3);
  feed(credit(10));
  session.end_of_source();
  EXPECT_THAT(flush(), IsEmpty());
  EXPECT_EQ(session.phase(), Session::Phase::connecting);
}

TEST_F(ProducerSession, IgnoresCreditGrantedBeforeWelcome) {
  session.on_connect(now);
  feed(credit(10));
  feed(welcome());
  take_outbox(session);
  add(3);
  EXPECT_THAT(flush(), IsEmpty());
  feed(credit(1));
  EXPECT_THAT(task_seqs(flush()), ElementsAre(0u));
}

TEST_F(ProducerSession, ForgetsCreditWhenTheConnectionIsReplaced) {
  connect();
  feed(credit(5));
  reconnect();
  add(2);
  EXPECT_THAT(flush(), IsEmpty()) << "grants belong to the old session";
  feed(credit(1));
  EXPECT_THAT(task_seqs(flush()), ElementsAre(0u));
}

TEST_F(ProducerSession, FailsWhenNoWelcomeArrivesWithinTheConnectTimeout) {
  session.on_connect(now);
  session.on_tick(now + milliseconds(5000));
  EXPECT_EQ(session.phase(), Session::Phase::connecting);
  session.on_tick(now + milliseconds(5001));
  EXPECT_EQ(session.phase(), Session::Phase::failed);
  EXPECT_THAT(session.failure(), HasSubstr("--connect-timeout"));
  EXPECT_THAT(session.failure(), HasSubstr("tcp://broker:5555"));
  EXPECT_EQ(session.source_room(), 0u);
}

TEST_F(ProducerSession, AConnectTimeoutNamesTheLastHandshakeFailure) {
  session.on_connect(now);
  session.link().on_handshake_failure("the broker refused our key (not in its --producer-keys?)");
  session.on_tick(now + milliseconds(5001));
  EXPECT_EQ(session.phase(), Session::Phase::failed);
  EXPECT_THAT(session.failure(), HasSubstr("refused our key (not in its --producer-keys?)"));
  EXPECT_THAT(session.failure(), HasSubstr("--connect-timeout"));
}

TEST_F(ProducerSession, ASuccessfulHandshakeForgetsAnEarlierFailure) {
  session.on_connect(now);
  session.link().on_handshake_failure("CURVE handshake failed: wrong --broker-public-key?");
  session.link().on_handshake_succeeded();
  session.on_tick(now + milliseconds(5001));
  EXPECT_THAT(session.failure(), Not(HasSubstr("CURVE")));
  EXPECT_THAT(session.failure(), HasSubstr("is it running"));
}

// Ticks every 10 ms from `from` until the session asks for a new connection; the delay in ms.
long long ms_until_new_connection(Session& session, TimePoint from) {
  for (TimePoint t = from; t < from + std::chrono::seconds(60); t += milliseconds(10)) {
    session.on_tick(t);
    if (session.link().wants_new_connection()) return to_ms(t - from);
  }
  return -1;
}

TEST_F(ProducerSession, RetriesAnUnansweredHelloWithBoundedExponentialBackoff) {
  // 2 s, 4 s, 8 s, 16 s, then 30 s at most, each within ±20% (plus a 10 ms tick).
  SessionConfig patient = config_with_window(100);
  patient.connect_timeout = std::chrono::minutes(10);
  session = Session(patient, now);
  const long long bases[] = {2000, 4000, 8000, 16000, 30000, 30000};
  for (const long long base : bases) {
    session.on_connect(now);
    EXPECT_FALSE(session.link().wants_new_connection());
    const long long waited = ms_until_new_connection(session, now);
    EXPECT_GE(waited, base * 8 / 10) << "base " << base;
    EXPECT_LE(waited, base * 12 / 10 + 10) << "base " << base;
    EXPECT_EQ(session.phase(), Session::Phase::connecting);
    now += milliseconds(waited);
  }
}

TEST_F(ProducerSession, AWelcomeResetsTheHelloBackoff) {
  SessionConfig patient = config_with_window(100);
  patient.connect_timeout = std::chrono::minutes(10);
  session = Session(patient, now);
  for (int i = 0; i < 3; ++i) {
    session.on_connect(now);
    now += milliseconds(ms_until_new_connection(session, now));
  }
  connect(welcome(1000, 3));
  now += milliseconds(3001);
  session.on_tick(now);
  ASSERT_TRUE(session.link().wants_new_connection()) << "the broker fell silent";
  session.on_connect(now);
  EXPECT_LE(ms_until_new_connection(session, now), 2400 + 10) << "back to the first delay";
}

TEST_F(ProducerSession, AsksForANewConnectionWhenTheBrokerFallsSilent) {
  connect(welcome(100, 3));
  session.on_tick(now + milliseconds(300));
  EXPECT_FALSE(session.link().wants_new_connection());
  session.on_tick(now + milliseconds(301));
  EXPECT_TRUE(session.link().wants_new_connection());
  EXPECT_EQ(session.phase(), Session::Phase::running) << "a lost link is not a failure";
}

TEST_F(ProducerSession, AnyMessageFromTheBrokerKeepsTheSessionAlive) {
  connect(welcome(100, 3));
  now += milliseconds(250);
  feed(heartbeat());
  session.on_tick(now + milliseconds(300));
  EXPECT_FALSE(session.link().wants_new_connection());
  session.on_tick(now + milliseconds(301));
  EXPECT_TRUE(session.link().wants_new_connection());
}

TEST_F(ProducerSession, FailsWhenTheBrokerStaysLostPastTheReconnectTimeout) {
  connect(welcome(100, 3));
  add(1);
  const TimePoint lost = now + milliseconds(301);
  session.on_tick(lost);
  ASSERT_TRUE(session.link().wants_new_connection());
  session.on_connect(lost);
  session.on_tick(lost + milliseconds(20000));
  EXPECT_EQ(session.phase(), Session::Phase::running);
  session.on_tick(lost + milliseconds(20001));
  EXPECT_EQ(session.phase(), Session::Phase::failed);
  EXPECT_THAT(session.failure(), HasSubstr("--reconnect-timeout"));
  EXPECT_THAT(session.failure(), HasSubstr("1 tasks unfinished"));
}

TEST_F(ProducerSession, NotWelcomedAsksForANewConnection) {
  connect();
  feed(error(wire::NOT_WELCOMED));
  EXPECT_TRUE(session.link().wants_new_connection());
  add(1);
  feed(credit(1));
  EXPECT_THAT(flush(), IsEmpty()) << "nothing goes to a broker that does not know us";
  session.on_connect(now);
  EXPECT_FALSE(session.link().wants_new_connection());
}

TEST_F(ProducerSession, AFatalErrorFailsTheSession) {
  connect();
  wire::Envelope fatal = error(wire::INVALID_HELLO, {}, true);
  feed(std::move(fatal));
  EXPECT_EQ(session.phase(), Session::Phase::failed);
  EXPECT_THAT(session.failure(), HasSubstr("refused for a test"));
  session.end_of_source();
  EXPECT_THAT(flush(), IsEmpty());
}

TEST_F(ProducerSession, SendsAHeartbeatWhenIdle) {
  connect(welcome(100, 3));
  session.on_tick(now + milliseconds(99));
  EXPECT_THAT(take_outbox(session), IsEmpty());
  session.on_tick(now + milliseconds(100));
  EXPECT_THAT(bodies(take_outbox(session)), ElementsAre(Body::kHeartbeat));
}

TEST_F(ProducerSession, SendsNoHeartbeatRightAfterOtherTraffic) {
  connect(welcome(100, 3));
  add(1);
  feed(credit(1));
  now += milliseconds(60);
  flush();
  session.on_tick(now + milliseconds(60));
  EXPECT_THAT(take_outbox(session), IsEmpty()) << "the batch 60 ms ago proves we are alive";
}

}  // namespace
}  // namespace conveyor::producer
