// producer::Session: tasks within credit, results and acks, the pill and the goodbye.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <vector>

#include "conveyor/common/codec.hpp"
#include "unit/producer_session_fixture.hpp"

namespace conveyor::producer {
namespace {

using namespace conveyor::testing;
using ::testing::Each;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::Le;
using Body = wire::Envelope::BodyCase;

TEST_F(ProducerSession, SendsOnlyWithinGrantedCreditInSeqOrder) {
  connect();
  add(5);
  feed(credit(3));
  EXPECT_THAT(task_seqs(flush()), ElementsAre(0u, 1u, 2u));
  EXPECT_THAT(flush(), IsEmpty());
  feed(credit(2));
  EXPECT_THAT(task_seqs(flush()), ElementsAre(3u, 4u));
}

TEST_F(ProducerSession, BatchesManyTasksInOneTaskBatch) {
  connect();
  add(100);
  feed(credit(100));
  auto out = flush();
  ASSERT_THAT(bodies(out), ElementsAre(Body::kTasks));
  const auto& batch = out[0].tasks();
  ASSERT_EQ(batch.tasks_size(), 100);
  for (int i = 0; i < batch.tasks_size(); ++i) {
    EXPECT_EQ(batch.tasks(i).seq(), static_cast<std::uint64_t>(i));
    EXPECT_EQ(batch.tasks(i).payload(), "payload-" + std::to_string(i));
    EXPECT_EQ(batch.tasks(i).producer(), "") << "the session names the producer";
  }
}

TEST_F(ProducerSession, CutsBatchesNearAQuarterOfTheMaxMessageSize) {
  // 400-byte messages: batches aim at 100 bytes; a 46-byte payload is 50-52 bytes in the batch.
  connect(welcome(100, 3, 300, 400));
  for (int i = 0; i < 6; ++i)
    session.add_task(std::string(46, 'x'));
  feed(credit(6));
  auto out = flush();
  ASSERT_THAT(bodies(out), ElementsAre(Body::kTasks, Body::kTasks, Body::kTasks));
  for (const auto& envelope : out)
    EXPECT_EQ(envelope.tasks().tasks_size(), 2);
  EXPECT_THAT(task_seqs(out), ElementsAre(0u, 1u, 2u, 3u, 4u, 5u));
}

TEST_F(ProducerSession, APayloadThatWouldTakeABatchOverTheMessageLimitOpensTheNextOne) {
  // 4,096-byte messages: batches aim at 1,024 bytes and a payload may be 3,072 (4,096 - 1,024).
  connect(welcome(100, 3, 3072, 4096));
  session.add_task(std::string(1015, 'a'));  // 1,021 bytes in its batch: just under the target
  session.add_task(std::string(3072, 'b'));  // 3,080 more: the two would be over 4,096
  session.add_task("c");
  feed(credit(3));
  session.flush(now);
  EXPECT_THAT(frame_sizes(session.link()), Each(Le(4096u)));
  const auto out = take_outbox(session);
  ASSERT_THAT(bodies(out), ElementsAre(Body::kTasks, Body::kTasks, Body::kTasks));
  EXPECT_EQ(out[0].tasks().tasks_size(), 1);
  EXPECT_EQ(out[1].tasks().tasks(0).payload(), std::string(3072, 'b'));
  EXPECT_THAT(task_seqs(out), ElementsAre(0u, 1u, 2u)) << "none lost, none out of order";
}

TEST_F(ProducerSession, ATaskBatchIsLibprotobufsEncoding) {
  connect();
  session.add_task("");  // seq 0 and an empty payload: both left out, as protobuf does
  session.add_task(std::string(200, 'x'));  // a two-byte length
  feed(credit(2));
  session.flush(now);
  ASSERT_EQ(session.link().outbox().size(), 1u);
  wire::Envelope expected;
  expected.set_version(kProtocolVersion);
  expected.mutable_tasks()->add_tasks();
  auto* second = expected.mutable_tasks()->add_tasks();
  second->set_seq(1);
  second->set_payload(std::string(200, 'x'));
  EXPECT_EQ(session.link().outbox()[0].frame(), expected.SerializeAsString());
}

TEST_F(ProducerSession, AssignsSeqsInSourceOrderFromZero) {
  connect();
  session.add_task("a");
  session.add_task("b");
  session.add_task("c");
  EXPECT_EQ(session.counts().produced, 3u);
  feed(credit(3));
  auto out = flush();
  ASSERT_EQ(out.size(), 1u);
  const auto& batch = out[0].tasks();
  ASSERT_EQ(batch.tasks_size(), 3);
  EXPECT_EQ(batch.tasks(0).seq(), 0u);
  EXPECT_EQ(batch.tasks(0).payload(), "a");
  EXPECT_EQ(batch.tasks(1).seq(), 1u);
  EXPECT_EQ(batch.tasks(1).payload(), "b");
  EXPECT_EQ(batch.tasks(2).seq(), 2u);
  EXPECT_EQ(batch.tasks(2).payload(), "c");
}

TEST_F(ProducerSession, SourceRoomIsTheWindowsFreeRoom) {
  use_window(3);
  connect();
  EXPECT_EQ(session.source_room(), 3u);
  add(2);
  EXPECT_EQ(session.source_room(), 1u);
  add(1);
  EXPECT_EQ(session.source_room(), 0u);
  feed(credit(3));
  flush();
  EXPECT_EQ(session.source_room(), 0u) << "sent is not final: the window still holds it";
  feed(results({{1, wire::OK}}));
  EXPECT_EQ(session.source_room(), 1u);
}

TEST_F(ProducerSession, SourceRoomIsZeroOnceTheSourceEnded) {
  connect();
  session.end_of_source();
  EXPECT_TRUE(session.source_ended());
  EXPECT_EQ(session.source_room(), 0u);
}

TEST_F(ProducerSession, AResultBatchIsReadInPlaceAndKeptUntilItsResultsAreWritten) {
  connect();
  add(2);
  feed(credit(2));
  flush();
  auto frame = frame_of(results({{0, wire::OK}, {1, wire::FAILED}}));
  ASSERT_TRUE(session.on_frame(*frame, frame, now)) << "a plain result batch is read in place";
  const std::weak_ptr<std::string> kept = frame;
  frame.reset();
  ASSERT_EQ(session.finished_results().size(), 2u);
  EXPECT_EQ(session.finished_results()[1].error, "error-1");
  EXPECT_EQ(session.finished_results()[1].consumer, "c1");
  EXPECT_FALSE(kept.expired()) << "held until written";
  session.finished_results().clear();
  EXPECT_TRUE(kept.expired());
  EXPECT_EQ(session.counts().failed, 1u);
}

TEST_F(ProducerSession, ABatchOfOnlyDuplicatesIsNotKept) {
  connect();
  add(1);
  feed(credit(1));
  flush();
  feed(results({{0, wire::OK}}));
  session.finished_results().clear();               // written
  auto frame = frame_of(results({{0, wire::OK}}));  // sent again after a reconnect
  ASSERT_TRUE(session.on_frame(*frame, frame, now));
  const std::weak_ptr<std::string> kept = frame;
  frame.reset();
  EXPECT_TRUE(session.finished_results().empty());
  EXPECT_TRUE(kept.expired()) << "nothing in it to write, so nothing holds it";
  EXPECT_EQ(session.counts().duplicates, 1u);
}

TEST_F(ProducerSession, AResultBatchTheReaderRefusesIsDecodedAndItsResultsOutliveTheDecoder) {
  connect();
  add(1);
  feed(credit(1));
  flush();
  wire::Envelope envelope = results({{0, wire::FAILED}});
  envelope.set_version(kProtocolVersion);
  envelope.mutable_results()->mutable_results(0)->set_error("caf\xc3\xa9");  // not ASCII
  const auto frame = frame_of(envelope);
  EXPECT_FALSE(session.on_frame(*frame, frame, now));
  // The decoder reuses its envelope: the results must not point into it (under ASan, a view
  // that did would be a use after free below).
  auto decoded = std::make_unique<wire::Envelope>(envelope);
  session.on_envelope(*decoded, now);
  decoded.reset();
  ASSERT_EQ(session.finished_results().size(), 1u);
  EXPECT_EQ(session.finished_results()[0].error, "caf\xc3\xa9");
}

TEST_F(ProducerSession, AResultFinalizesItsTaskAndIsAcked) {
  connect();
  add(2);
  feed(credit(2));
  flush();
  feed(results({{1, wire::OK}}));
  ASSERT_EQ(session.finished_results().size(), 1u);
  EXPECT_EQ(session.finished_results()[0].seq, 1u);
  EXPECT_EQ(session.finished_results()[0].output, "out-1");
  EXPECT_EQ(session.finished_results()[0].consumer, "c1");
  EXPECT_EQ(session.counts().ok, 1u);
  EXPECT_EQ(session.unfinished(), 1u);
  auto out = flush();
  ASSERT_THAT(bodies(out), ElementsAre(Body::kAck));
  EXPECT_THAT(out[0].ack().seqs(), ElementsAre(1u));
  EXPECT_THAT(flush(), IsEmpty()) << "an ack goes once";
}

TEST_F(ProducerSession, CountsFailedAndDeadResultsAsFinal) {
  connect();
  add(3);
  feed(credit(3));
  flush();
  feed(results({{0, wire::FAILED}, {1, wire::DEAD}, {2, wire::OK}}));
  EXPECT_THAT(finished_seqs(), ElementsAre(0u, 1u, 2u));
  EXPECT_EQ(session.counts().failed, 1u);
  EXPECT_EQ(session.counts().dead, 1u);
  EXPECT_EQ(session.counts().ok, 1u);
  EXPECT_EQ(session.counts().done(), 3u);
  EXPECT_EQ(session.unfinished(), 0u);
}

TEST_F(ProducerSession, DropsDuplicateResultsButStillAcksThem) {
  connect();
  add(1);
  feed(credit(1));
  flush();
  feed(results({{0, wire::OK}}));
  EXPECT_THAT(finished_seqs(), ElementsAre(0u));
  flush();
  feed(results({{0, wire::FAILED}}));
  EXPECT_THAT(session.finished_results(), IsEmpty());
  EXPECT_EQ(session.counts().duplicates, 1u);
  EXPECT_EQ(session.counts().ok, 1u);
  EXPECT_EQ(session.counts().failed, 0u);
  auto out = flush();
  ASSERT_THAT(bodies(out), ElementsAre(Body::kAck));
  EXPECT_THAT(out[0].ack().seqs(), ElementsAre(0u));
}

TEST_F(ProducerSession, RejectedTasksGoBackToTheFrontAndAreResentWhenCreditReturns) {
  connect();
  add(5);
  feed(credit(3));
  EXPECT_THAT(task_seqs(flush()), ElementsAre(0u, 1u, 2u));
  feed(error(wire::CREDIT_EXCEEDED, {2, 1}));
  EXPECT_THAT(flush(), IsEmpty()) << "no credit left";
  feed(credit(2));
  EXPECT_THAT(task_seqs(flush()), ElementsAre(1u, 2u));
  feed(credit(2));
  EXPECT_THAT(task_seqs(flush()), ElementsAre(3u, 4u));
}

TEST_F(ProducerSession, ShuttingDownTakesBackEveryGrant) {
  connect();
  add(2);
  feed(credit(5));
  EXPECT_THAT(task_seqs(flush()), ElementsAre(0u, 1u));
  feed(error(wire::SHUTTING_DOWN, {1}));
  add(1);
  EXPECT_THAT(flush(), IsEmpty()) << "the 3 unused grants are void";
  feed(credit(2));
  EXPECT_THAT(task_seqs(flush()), ElementsAre(1u, 2u));
}

TEST_F(ProducerSession, DoesNotSendATaskThatBecameFinalWhileWaitingToBeSent) {
  connect();
  add(3);
  feed(credit(3));
  flush();
  reconnect();  // 0, 1 and 2 wait to be sent again
  feed(results({{1, wire::OK}}));
  feed(credit(3));
  EXPECT_THAT(task_seqs(flush()), ElementsAre(0u, 2u));
  add(1);
  EXPECT_THAT(task_seqs(flush()), ElementsAre(3u)) << "the skipped task used no credit";
}

TEST_F(ProducerSession, ResendsEveryUnfinishedTaskAfterWelcome) {
  connect();
  add(6);
  feed(credit(4));
  EXPECT_THAT(task_seqs(flush()), ElementsAre(0u, 1u, 2u, 3u));
  feed(results({{1, wire::OK}, {3, wire::FAILED}}));
  flush();
  reconnect();
  feed(credit(10));
  EXPECT_THAT(task_seqs(flush()), ElementsAre(0u, 2u, 4u, 5u));
}

// Unfinished payloads live in a pool whose slots are reused once a task is final: a task added
// into a reused slot must go again with its own payload, not the previous one's.
TEST_F(ProducerSession, ResendsEachPayloadAsItWasAfterItsSlotWasReused) {
  connect();
  add(3);
  feed(credit(3));
  flush();
  feed(results({{0, wire::OK}, {1, wire::OK}}));
  add(3);  // seqs 3, 4, 5: two of them in the slots of 0 and 1
  reconnect();
  feed(credit(10));
  std::vector<std::string> payloads;
  for (const auto& e : flush()) {
    for (const auto& t : e.tasks().tasks())
      payloads.push_back(t.payload());
  }
  EXPECT_THAT(payloads, ElementsAre("payload-2", "payload-3", "payload-4", "payload-5"));
}

TEST_F(ProducerSession, SendsThePillOnlyAfterTheLastTaskWasSent) {
  connect();
  add(3);
  session.end_of_source();
  feed(credit(2));
  auto out = flush();
  EXPECT_EQ(count_of(out, Body::kPill), 0u);
  EXPECT_THAT(task_seqs(out), ElementsAre(0u, 1u));
  feed(credit(1));
  out = flush();
  ASSERT_THAT(bodies(out), ElementsAre(Body::kTasks, Body::kPill));
  EXPECT_THAT(task_seqs(out), ElementsAre(2u));
  EXPECT_EQ(out[1].pill().tasks(), 3u);
}

TEST_F(ProducerSession, SendsThePillExactlyOncePerSession) {
  connect();
  add(2);
  session.end_of_source();
  feed(credit(2));
  EXPECT_EQ(count_of(flush(), Body::kPill), 1u);
  EXPECT_EQ(count_of(flush(), Body::kPill), 0u);
  feed(results({{0, wire::OK}}));
  EXPECT_EQ(count_of(flush(), Body::kPill), 0u);
  reconnect();
  EXPECT_EQ(count_of(flush(), Body::kPill), 0u) << "task 1 must go again first";
  feed(credit(1));
  auto out = flush();
  ASSERT_THAT(bodies(out), ElementsAre(Body::kTasks, Body::kPill));
  EXPECT_EQ(out[1].pill().tasks(), 2u);
  EXPECT_EQ(count_of(flush(), Body::kPill), 0u);
}

TEST_F(ProducerSession, SaysGoodbyeOnlyWhenEveryTaskHasAFinalResult) {
  connect();
  add(2);
  session.end_of_source();
  feed(credit(2));
  flush();
  feed(results({{0, wire::OK}}));
  auto out = flush();
  EXPECT_EQ(count_of(out, Body::kGoodbye), 0u);
  EXPECT_EQ(session.phase(), Session::Phase::running);
  feed(results({{1, wire::DEAD}}));
  out = flush();
  ASSERT_THAT(bodies(out), ElementsAre(Body::kAck, Body::kGoodbye)) << "acked before leaving";
  EXPECT_EQ(session.phase(), Session::Phase::done);
  EXPECT_THAT(flush(), IsEmpty()) << "done means silent";
}

TEST_F(ProducerSession, DoesNotSayGoodbyeBeforeTheSourceEnds) {
  connect();
  add(1);
  feed(credit(1));
  flush();
  feed(results({{0, wire::OK}}));
  EXPECT_EQ(count_of(flush(), Body::kGoodbye), 0u);
  EXPECT_EQ(session.phase(), Session::Phase::running);
}

TEST_F(ProducerSession, AnEmptySourceStillSendsItsPillAndFinishes) {
  connect();
  session.end_of_source();
  auto out = flush();
  ASSERT_THAT(bodies(out), ElementsAre(Body::kPill, Body::kGoodbye));
  EXPECT_EQ(out[0].pill().tasks(), 0u);
  EXPECT_EQ(session.phase(), Session::Phase::done);
}

TEST_F(ProducerSession, FinishesWhenResultsArriveForTasksWaitingToBeResent) {
  // After a reconnect the broker may return results for tasks the session means to send again,
  // and grant no credit (it may be stopping). Nothing is left to send: pill and goodbye go anyway.
  connect();
  add(2);
  session.end_of_source();
  feed(credit(2));
  flush();
  reconnect();
  feed(results({{0, wire::OK}, {1, wire::OK}}));
  auto out = flush();
  ASSERT_THAT(bodies(out), ElementsAre(Body::kAck, Body::kPill, Body::kGoodbye));
  EXPECT_EQ(out[1].pill().tasks(), 2u);
  EXPECT_EQ(session.phase(), Session::Phase::done);
}

TEST_F(ProducerSession, FailsAnOversizedPayloadAtOnceWithoutSendingIt) {
  connect(welcome(100, 3, 4, 1 << 20));
  session.add_task("12345");
  session.add_task("1234");
  ASSERT_EQ(session.finished_results().size(), 1u);
  const auto& result = session.finished_results()[0];
  EXPECT_EQ(result.seq, 0u);
  EXPECT_EQ(result.status, wire::FAILED);
  EXPECT_THAT(std::string(result.error), HasSubstr("5 bytes"));
  EXPECT_THAT(std::string(result.error), HasSubstr("limit of 4"));
  EXPECT_EQ(session.counts().failed, 1u);
  EXPECT_EQ(session.unfinished(), 1u);
  session.end_of_source();
  feed(credit(5));
  auto out = flush();
  EXPECT_THAT(task_seqs(out), ElementsAre(1u));
  ASSERT_EQ(count_of(out, Body::kPill), 1u);
  EXPECT_EQ(out.back().pill().tasks(), 2u) << "the failed task still counts";
}

}  // namespace
}  // namespace conveyor::producer
