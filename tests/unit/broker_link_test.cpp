// BrokerLink: the connection logic producers and consumers share (hello, welcome, heartbeats,
// backoff, connect and reconnect deadlines, fatal refusals), driven by hand with an injected clock.
#include "conveyor/common/broker_link.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "conveyor/common/logging.hpp"
#include "unit/session_envelopes.hpp"

namespace conveyor {
namespace {

using namespace conveyor::testing;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::Not;
using Body = wire::Envelope::BodyCase;

LinkConfig config_for(wire::Role role) {
  LinkConfig config;
  config.id = role == wire::PRODUCER ? "p1" : "c1";
  config.connect_timeout = milliseconds(5000);
  config.reconnect_timeout = milliseconds(20000);
  config.broker = role == wire::PRODUCER ? "tcp://broker:5555" : "tcp://broker:5556";
  return config;
}

class Link : public ::testing::Test {
 protected:
  std::vector<wire::Envelope> take() { return take_outbox(link); }
  LinkEvent feed(const wire::Envelope& envelope) { return link.on_envelope(envelope, now); }
  void connect(const wire::Envelope& welcome_envelope = welcome()) {
    link.on_connect(now);
    feed(welcome_envelope);
    take();
  }
  void patient() {
    LinkConfig config = config_for(wire::PRODUCER);
    config.connect_timeout = std::chrono::minutes(10);
    link = BrokerLink(config, wire::PRODUCER, logger("test"), now);
  }
  // Ticks every 10 ms from `from` until the link asks for a new connection; the delay in ms.
  long long ms_until_new_connection(TimePoint from) {
    for (TimePoint t = from; t < from + std::chrono::seconds(60); t += milliseconds(10)) {
      link.on_tick(t, 0);
      if (link.wants_new_connection()) return to_ms(t - from);
    }
    return -1;
  }

  TimePoint now = kStart;
  BrokerLink link{config_for(wire::PRODUCER), wire::PRODUCER, logger("test"), kStart};
};

TEST_F(Link, EachConnectionSaysHelloAsANewSessionWithRoleIdAndAgent) {
  link.on_connect(now);
  link.on_connect(now);
  auto out = take();
  ASSERT_THAT(bodies(out), ElementsAre(Body::kHello, Body::kHello));
  EXPECT_EQ(out[0].hello().role(), wire::PRODUCER);
  EXPECT_EQ(out[0].hello().id(), "p1");
  EXPECT_EQ(out[0].hello().agent(), "conveyor-producer/0.1");
  EXPECT_NE(out[0].hello().session(), out[1].hello().session());
}

TEST_F(Link, EveryHelloOfAProcessCarriesTheSameProcessId) {
  link.on_connect(now);
  link.on_connect(now);
  const auto out = take();
  EXPECT_NE(out[0].hello().process(), 0u);
  EXPECT_EQ(out[0].hello().process(), out[1].hello().process());
  BrokerLink other(config_for(wire::PRODUCER), wire::PRODUCER, logger("test"), now);
  other.on_connect(now);
  EXPECT_NE(other.outbox()[0].envelope.hello().process(), out[0].hello().process())
      << "another process";
}

TEST_F(Link, ADuplicateIdIsAskedAgainEverySecondUntilTheConnectTimeoutNamesIt) {
  link.on_connect(now);
  wire::Envelope refusal = error(wire::DUPLICATE_ID);
  refusal.mutable_error()->set_text("another producer with --id p1 is connected (from 10.0.0.2)");
  EXPECT_EQ(feed(refusal), LinkEvent::none);
  EXPECT_FALSE(link.failed()) << "the other one may be a crashed predecessor";
  EXPECT_EQ(ms_until_new_connection(now), 1000) << "asks again in a second, not after a backoff";
  now += milliseconds(1000);
  link.on_connect(now);
  feed(refusal);
  EXPECT_EQ(ms_until_new_connection(now), 1000);
  link.on_tick(kStart + milliseconds(5001), 0);
  ASSERT_TRUE(link.failed());
  EXPECT_THAT(link.failure(), HasSubstr("--id p1"));
  EXPECT_THAT(link.failure(), HasSubstr("--connect-timeout"));
}

TEST_F(Link, AWelcomeAfterADuplicateIdRefusalIsAnOrdinaryWelcome) {
  link.on_connect(now);
  feed(error(wire::DUPLICATE_ID));
  link.on_connect(now + milliseconds(1000));
  EXPECT_EQ(feed(welcome()), LinkEvent::welcomed);
  EXPECT_TRUE(link.welcomed());
}

TEST_F(Link, TheFirstWelcomeIsWelcomedAndOneAfterALossIsAReconnect) {
  link.on_connect(now);
  EXPECT_EQ(feed(welcome()), LinkEvent::welcomed);
  EXPECT_TRUE(link.welcomed());
  EXPECT_EQ(feed(error(wire::NOT_WELCOMED)), LinkEvent::lost);
  EXPECT_FALSE(link.welcomed());
  link.on_connect(now);
  EXPECT_EQ(feed(welcome()), LinkEvent::reconnected);
}

TEST_F(Link, TheWelcomeSetsTheBrokersLimits) {
  link.on_connect(now);
  feed(welcome(250, 4, 1000, 65536));
  EXPECT_EQ(link.limits().heartbeat, milliseconds(250));
  EXPECT_EQ(link.limits().liveness, 4u);
  EXPECT_EQ(link.limits().max_payload_bytes, 1000u);
  EXPECT_EQ(link.limits().max_message_bytes, 65536u);
}

// The broker and welcomed clients share the rule (broker/server.cpp, BrokerLink::tick_period()).
TEST(TickPeriod, IsAQuarterHeartbeatBetween10And250Ms) {
  EXPECT_EQ(tick_period(milliseconds(1000)), milliseconds(250));
  EXPECT_EQ(tick_period(milliseconds(400)), milliseconds(100));
  EXPECT_EQ(tick_period(milliseconds(20)), milliseconds(10));
  EXPECT_EQ(tick_period(std::chrono::minutes(1)), milliseconds(250));
}

// An idle client wakes a few times per heartbeat, not every 50 ms ("idle consumers cost
// nothing"), and never so rarely that a heartbeat is late by more than a quarter of one.
TEST_F(Link, TicksEvery50MsUntilWelcomedThenAQuarterHeartbeatWithinBounds) {
  EXPECT_EQ(link.tick_period(), milliseconds(50));
  link.on_connect(now);
  feed(welcome(1000, 3, 1000, 65536));
  EXPECT_EQ(link.tick_period(), milliseconds(250));
  feed(welcome(100, 3, 1000, 65536));
  EXPECT_EQ(link.tick_period(), milliseconds(25));
  feed(welcome(20, 3, 1000, 65536));
  EXPECT_EQ(link.tick_period(), milliseconds(10));
  feed(welcome(10000, 3, 1000, 65536));
  EXPECT_EQ(link.tick_period(), milliseconds(250));
  feed(error(wire::NOT_WELCOMED));
  EXPECT_EQ(link.tick_period(), milliseconds(50)) << "reconnecting";
}

// An idle client is ticked only at next_deadline(): its heartbeat, due a tick after a heartbeat
// (the broker's comes in between and is answered), or the broker's silence past liveness.
TEST_F(Link, AnIdleLinksNextDeadlineIsItsHeartbeatATickLateOrTheBrokersSilence) {
  link.on_connect(now);
  EXPECT_EQ(link.next_deadline(now), now + milliseconds(50)) << "hellos and --connect-timeout";
  feed(welcome(1000, 3));
  take();
  EXPECT_EQ(link.next_deadline(now), now + milliseconds(1250));
  const TimePoint first = now + milliseconds(1250);
  link.on_tick(first, 0);
  EXPECT_THAT(bodies(take()), ElementsAre(Body::kHeartbeat));
  EXPECT_EQ(link.next_deadline(first), first + milliseconds(1250));
  const TimePoint second = first + milliseconds(1250);
  link.on_tick(second, 0);
  take();
  EXPECT_EQ(link.next_deadline(second), now + milliseconds(3001))
      << "heard last at the welcome: silent past 3 heartbeats before ours is due";
  EXPECT_EQ(link.on_tick(now + milliseconds(3001), 0), LinkEvent::lost);
  EXPECT_EQ(link.next_deadline(now + milliseconds(3001)), now + milliseconds(3051));
  EXPECT_EQ(link.next_deadline(now + milliseconds(9000)), now + milliseconds(9050));
}

TEST_F(Link, AnOverdueDeadlineIsNow) {
  connect(welcome(1000, 3));
  EXPECT_EQ(link.next_deadline(now + milliseconds(2000)), now + milliseconds(2000));
}

TEST_F(Link, WithLivenessOneTheHeartbeatIsDueWithoutSlack) {
  connect(welcome(1000, 1));
  EXPECT_EQ(link.next_deadline(now), now + milliseconds(1000));
}

// A tick (10 ms at the least) may be a whole heartbeat when heartbeats are short: the slack is
// then half of the spare heartbeats, so ours never comes as late as the broker's patience.
TEST_F(Link, WithAShortHeartbeatTheSlackIsHalfTheSpareHeartbeats) {
  connect(welcome(10, 2));
  EXPECT_EQ(link.next_deadline(now), now + milliseconds(15));
  connect(welcome(10, 5));
  EXPECT_EQ(link.next_deadline(now), now + milliseconds(20)) << "a tick: 10 ms";
}

// An idle client woken by the broker's heartbeat sends its own then, once it is half due: one
// wake-up serves both directions.
TEST_F(Link, AnswersTheBrokersHeartbeatOnceOursIsHalfDue) {
  connect(welcome(1000, 3));
  now += milliseconds(499);
  feed(heartbeat());
  EXPECT_THAT(take(), IsEmpty()) << "ours was sent (the hello) 499 ms ago";
  now += milliseconds(1);
  feed(heartbeat());
  EXPECT_THAT(bodies(take()), ElementsAre(Body::kHeartbeat));
  EXPECT_EQ(link.next_deadline(now), now + milliseconds(1250));
  feed(welcome(1000, 3));
  feed(tasks("p1", {1}));
  EXPECT_THAT(take(), IsEmpty()) << "only a heartbeat is answered";
}

TEST_F(Link, FailsWhenNoWelcomeArrivesWithinTheConnectTimeout) {
  for (const wire::Role role : {wire::PRODUCER, wire::CONSUMER}) {
    link = BrokerLink(config_for(role), role, logger("test"), now);
    link.on_connect(now);
    EXPECT_EQ(link.on_tick(now + milliseconds(5000), 0), LinkEvent::none);
    EXPECT_EQ(link.on_tick(now + milliseconds(5001), 0), LinkEvent::failed);
    EXPECT_TRUE(link.failed());
    EXPECT_THAT(link.failure(), HasSubstr("--connect-timeout"));
    EXPECT_THAT(link.failure(), HasSubstr(config_for(role).broker));
    EXPECT_THAT(link.failure(), HasSubstr(role == wire::PRODUCER ? "frontend" : "backend"));
  }
}

TEST_F(Link, AConnectTimeoutNamesTheLastHandshakeFailure) {
  link.on_connect(now);
  link.on_handshake_failure("the broker refused our key (not in its --producer-keys?)");
  link.on_tick(now + milliseconds(5001), 0);
  EXPECT_THAT(link.failure(), HasSubstr("refused our key (not in its --producer-keys?)"));
  EXPECT_THAT(link.failure(), HasSubstr("--connect-timeout"));
}

TEST_F(Link, ASuccessfulHandshakeForgetsAnEarlierFailure) {
  link.on_connect(now);
  link.on_handshake_failure("CURVE handshake failed: wrong --broker-public-key?");
  link.on_handshake_succeeded();
  link.on_tick(now + milliseconds(5001), 0);
  EXPECT_THAT(link.failure(), Not(HasSubstr("CURVE")));
  EXPECT_THAT(link.failure(), HasSubstr("is it running"));
}

TEST_F(Link, RetriesAnUnansweredHelloWithBoundedExponentialBackoff) {
  // 2 s, 4 s, 8 s, 16 s, then 30 s at most, each within ±20% (plus a 10 ms tick).
  patient();
  for (const long long base : {2000, 4000, 8000, 16000, 30000, 30000}) {
    link.on_connect(now);
    EXPECT_FALSE(link.wants_new_connection());
    const long long waited = ms_until_new_connection(now);
    EXPECT_GE(waited, base * 8 / 10) << "base " << base;
    EXPECT_LE(waited, base * 12 / 10 + 10) << "base " << base;
    EXPECT_FALSE(link.failed());
    now += milliseconds(waited);
  }
}

TEST_F(Link, AWelcomeResetsTheHelloBackoff) {
  patient();
  for (int i = 0; i < 3; ++i) {
    link.on_connect(now);
    now += milliseconds(ms_until_new_connection(now));
  }
  connect(welcome(1000, 3));
  now += milliseconds(3001);
  EXPECT_EQ(link.on_tick(now, 0), LinkEvent::lost) << "the broker fell silent";
  link.on_connect(now);
  EXPECT_LE(ms_until_new_connection(now), 2400 + 10) << "back to the first delay";
}

TEST_F(Link, AsksForANewConnectionWhenTheBrokerFallsSilent) {
  connect(welcome(100, 3));
  EXPECT_EQ(link.on_tick(now + milliseconds(300), 0), LinkEvent::none);
  EXPECT_FALSE(link.wants_new_connection());
  EXPECT_EQ(link.on_tick(now + milliseconds(301), 0), LinkEvent::lost);
  EXPECT_TRUE(link.wants_new_connection());
  EXPECT_FALSE(link.failed()) << "a lost link is not a failure";
}

TEST_F(Link, AnyMessageFromTheBrokerKeepsItAlive) {
  connect(welcome(100, 3));
  now += milliseconds(250);
  feed(heartbeat());
  link.on_tick(now + milliseconds(300), 0);
  EXPECT_FALSE(link.wants_new_connection());
  link.on_tick(now + milliseconds(301), 0);
  EXPECT_TRUE(link.wants_new_connection());
}

TEST_F(Link, FailsWhenTheBrokerStaysLostPastTheReconnectTimeoutNamingWhatIsHeld) {
  connect(welcome(100, 3));
  const TimePoint lost = now + milliseconds(301);
  link.on_tick(lost, 1);
  link.on_connect(lost);
  EXPECT_EQ(link.on_tick(lost + milliseconds(20000), 1), LinkEvent::none);
  EXPECT_EQ(link.on_tick(lost + milliseconds(20001), 1), LinkEvent::failed);
  EXPECT_THAT(link.failure(), HasSubstr("--reconnect-timeout"));
  EXPECT_THAT(link.failure(), HasSubstr("1 tasks unfinished"));
}

TEST_F(Link, AFatalErrorFailsTheLinkNamingTheRole) {
  connect();
  EXPECT_EQ(feed(error(wire::INVALID_HELLO, {}, true)), LinkEvent::failed);
  EXPECT_TRUE(link.failed());
  EXPECT_THAT(link.failure(), HasSubstr("refused this producer"));
  EXPECT_THAT(link.failure(), HasSubstr("refused for a test"));
}

TEST_F(Link, ANonFatalErrorIsTheSessionsToHandle) {
  connect();
  EXPECT_EQ(feed(error(wire::CREDIT_EXCEEDED, {1, 2})), LinkEvent::none);
  EXPECT_TRUE(link.welcomed());
}

TEST_F(Link, SendsAHeartbeatWhenIdle) {
  connect(welcome(100, 3));
  link.on_tick(now + milliseconds(99), 0);
  EXPECT_THAT(take(), IsEmpty());
  link.on_tick(now + milliseconds(100), 0);
  EXPECT_THAT(bodies(take()), ElementsAre(Body::kHeartbeat));
}

TEST_F(Link, SendsNoHeartbeatRightAfterOtherTraffic) {
  connect(welcome(100, 3));
  link.advance(now + milliseconds(60));
  link.send(results({}));
  take();
  link.on_tick(now + milliseconds(120), 0);
  EXPECT_THAT(take(), IsEmpty()) << "a message 60 ms ago proves we are alive";
}

TEST_F(Link, SendsNoHeartbeatBeforeTheWelcome) {
  link.on_connect(now);
  take();
  link.on_tick(now + milliseconds(1500), 0);
  EXPECT_THAT(take(), IsEmpty());
}

// A batch goes to the outbox as its writer's buffer, not a copy; the writer goes on with a buffer
// the shell gave back after an earlier send.
TEST_F(Link, ABatchMovesItsBufferToTheOutboxAndTheWriterTakesOneGivenBack) {
  connect();
  BatchWriter batch;
  batch.start(BatchWriter::Kind::tasks);
  batch.add([](auto& task) { task.bytes(wire::Task::kPayloadFieldNumber, std::string(500, 'x')); });
  const std::string frame(batch.finish());
  const char* bytes = batch.frame().data();

  link.give_back(ByteBuffer(4000));
  const std::size_t capacity = 4000;
  link.send_batch(batch);

  ASSERT_EQ(link.outbox().size(), 1u);
  const ToBroker& sent = link.outbox()[0];
  ASSERT_TRUE(sent.is_batch());
  EXPECT_EQ(sent.frame(), frame);
  EXPECT_EQ(sent.frame().data(), bytes) << "moved, not copied";
  EXPECT_EQ(batch.capacity(), capacity) << "the writer fills the buffer given back";
  EXPECT_THAT(bodies(take()), ElementsAre(Body::kTasks));
}

TEST_F(Link, ABatchSentCountsAsTrafficForTheHeartbeat) {
  connect(welcome(100, 3));
  link.advance(now + milliseconds(60));
  BatchWriter batch;
  batch.start(BatchWriter::Kind::results);
  link.send_batch(batch);
  take();
  link.on_tick(now + milliseconds(120), 0);
  EXPECT_THAT(take(), IsEmpty()) << "a batch 60 ms ago proves we are alive";
}

}  // namespace
}  // namespace conveyor
