// producer::Session: how it paces the source, and what a signal means to it (DESIGN.md §2 rule 5:
// the first stops reading and lets the pill follow what was read; the second stops at once).
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <csignal>

#include "unit/producer_session_fixture.hpp"

namespace conveyor::producer {
namespace {

using namespace conveyor::testing;
using ::testing::Contains;
using ::testing::ElementsAre;
using Body = wire::Envelope::BodyCase;

// A reader's batch of `n` payloads; `end` and `error` as the reader would say them.
SourceBatch payloads(std::size_t n, bool end = false, std::string error = "") {
  SourceBatch batch;
  for (std::size_t i = 0; i < n; ++i)
    batch.add("payload-" + std::to_string(i));
  batch.end = end;
  batch.error = std::move(error);
  return batch;
}

TEST_F(ProducerSession, AnIdleReaderIsAskedForTheWholeRoom) {
  connect();
  EXPECT_EQ(session.plan_source(false, now).request, 100u);
  EXPECT_FALSE(session.plan_source(false, now).stop_reader);
}

TEST_F(ProducerSession, ABusyReaderIsNeverAskedTwice) {
  connect();
  EXPECT_EQ(session.plan_source(true, now).request, 0u);
}

TEST_F(ProducerSession, WithTasksUnfinishedTheReaderIsAskedOnlyForSizeableChunks) {
  use_window(160);  // chunks of at least 160 / 16 = 10
  connect();
  add(155);
  EXPECT_EQ(session.plan_source(false, now).request, 0u) << "5 of room is not worth a request";
  add(0);
  auto batch = results({{0, wire::OK}, {1, wire::OK}, {2, wire::OK}, {3, wire::OK}, {4, wire::OK}});
  feed(std::move(batch));
  EXPECT_EQ(session.plan_source(false, now).request, 10u);
}

TEST_F(ProducerSession, WithNothingUnfinishedEvenALittleRoomIsAskedFor) {
  use_window(160);
  connect();
  EXPECT_EQ(session.plan_source(false, now).request, 160u);
}

TEST_F(ProducerSession, AnEndedSourceIsNotAskedAgain) {
  connect();
  session.on_source_batch(payloads(0, true));
  EXPECT_TRUE(session.source_ended());
  EXPECT_EQ(session.plan_source(false, now).request, 0u);
}

TEST_F(ProducerSession, TheFirstSignalStopsAnIdleReaderAndThePillFollowsWhatWasRead) {
  connect();
  session.on_source_batch(payloads(3));
  EXPECT_EQ(session.on_signal(SIGTERM, now), SignalAction::drain);
  const SourcePlan plan = session.plan_source(false, now);
  EXPECT_TRUE(plan.stop_reader);
  EXPECT_EQ(plan.request, 0u);
  EXPECT_TRUE(session.source_ended());
  feed(credit(3));
  const auto out = flush();
  EXPECT_THAT(task_seqs(out), ElementsAre(0u, 1u, 2u));
  EXPECT_THAT(bodies(out), Contains(Body::kPill));
  EXPECT_EQ(session.phase(), Session::Phase::running) << "it still waits for its results";
}

TEST_F(ProducerSession, TheFirstSignalLetsABusyReaderFinishItsBatchForAMoment) {
  connect();
  session.on_signal(SIGINT, now);
  EXPECT_FALSE(session.plan_source(true, now + milliseconds(199)).stop_reader);
  EXPECT_FALSE(session.source_ended());
  EXPECT_TRUE(session.plan_source(true, now + Session::kStopReadingGrace).stop_reader);
  EXPECT_TRUE(session.source_ended());
}

TEST_F(ProducerSession, ABatchArrivingAfterTheFirstSignalIsKeptAndEndsTheSource) {
  connect();
  session.on_signal(SIGTERM, now);
  session.on_source_batch(payloads(2));
  EXPECT_TRUE(session.source_ended());
  EXPECT_EQ(session.counts().produced, 2u) << "what was read is sent, then the pill";
}

TEST_F(ProducerSession, TheSecondSignalStopsAtOnce) {
  connect();
  add(2);
  EXPECT_EQ(session.on_signal(SIGTERM, now), SignalAction::drain);
  EXPECT_EQ(session.on_signal(SIGTERM, now), SignalAction::stop_now);
  EXPECT_EQ(session.on_signal(SIGINT, now), SignalAction::stop_now) << "and every one after it";
}

TEST_F(ProducerSession, ASourceThatFailsEndsTheRunWithExitStatusOne) {
  connect();
  session.on_source_batch(payloads(1, true, "disk on fire"));
  EXPECT_TRUE(session.source_ended());
  EXPECT_EQ(session.exit_status(), 1);
  EXPECT_EQ(session.failure(), "the source failed: disk on fire");
}

TEST_F(ProducerSession, AFailedSessionExitsOneWithTheLinksReason) {
  connect();
  session.fail("writing --results out.jsonl: No space left on device");
  EXPECT_TRUE(session.finished());
  EXPECT_EQ(session.exit_status(), 1);
  EXPECT_EQ(session.failure(), "writing --results out.jsonl: No space left on device");
}

TEST_F(ProducerSession, ACompleteRunExitsZero) {
  connect();
  session.end_of_source();
  flush();
  EXPECT_EQ(session.phase(), Session::Phase::done);
  EXPECT_EQ(session.exit_status(), 0);
}

}  // namespace
}  // namespace conveyor::producer
