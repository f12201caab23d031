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
