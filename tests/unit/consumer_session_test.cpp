// consumer::Session, driven by hand: envelopes in, work taken and finished, the outbox read back.
#include "conveyor/consumer/session.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <csignal>
#include <memory>
#include <string>
#include <vector>

#include "conveyor/common/codec.hpp"
#include "conveyor/common/task.hpp"
#include "unit/session_envelopes.hpp"

namespace conveyor::consumer {
namespace {

using namespace conveyor::testing;
using ::testing::Each;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::Le;
using Body = wire::Envelope::BodyCase;

SessionConfig test_config() {
  SessionConfig config;
  config.id = "c1";
  config.capacity = 8;
  config.connect_timeout = milliseconds(5000);
  config.reconnect_timeout = milliseconds(20000);
  config.broker = "tcp://broker:5556";
  return config;
}

// What a worker would return for `work`: ok, output "done-<seq>".
std::vector<Report> results_for(const Work& work) {
  std::vector<Report> out;
  for (const auto& task : work.tasks) {
    Report result;
    result.producer = task.producer();
    result.seq = task.seq();
    result.status = wire::OK;
    result.output = "done-" + std::to_string(task.seq());
    out.push_back(std::move(result));
  }
  return out;
}

std::vector<std::uint64_t> seqs_of(const Work& work) {
  std::vector<std::uint64_t> seqs;
  for (const auto& task : work.tasks)
    seqs.push_back(task.seq());
  return seqs;
}

class ConsumerSession : public ::testing::Test {
 protected:
  void feed(wire::Envelope envelope) { give_frame(session, std::move(envelope), now); }
  void connect(wire::Envelope welcome_envelope = welcome()) {
    session.on_connect(now);
    feed(std::move(welcome_envelope));
    take_outbox(session);
  }
  void finish(const Work& work) {
    auto results = results_for(work);
    session.on_done(work.id, results);
  }
  std::vector<wire::Envelope> flush() {
    session.flush(now);
    return take_outbox(session);
  }

  TimePoint now = kStart;
  Session session{test_config(), kStart};
};

TEST_F(ConsumerSession, HelloCarriesItsCapacity) {
  session.on_connect(now);
  auto out = take_outbox(session);
  ASSERT_THAT(bodies(out), ElementsAre(Body::kHello));
  const auto& hello = out[0].hello();
  EXPECT_EQ(hello.role(), wire::CONSUMER);
  EXPECT_EQ(hello.id(), "c1");
  EXPECT_EQ(hello.capacity(), 8u);
  EXPECT_NE(hello.session(), 0u);
  EXPECT_THAT(hello.agent(), HasSubstr("conveyor-consumer"));
}

TEST_F(ConsumerSession, WelcomeStartsTheSession) {
  session.on_connect(now);
  EXPECT_EQ(session.phase(), Session::Phase::connecting);
  feed(welcome());
  EXPECT_EQ(session.phase(), Session::Phase::running);
}

TEST_F(ConsumerSession, TakeWorkHandsOutTheOldestTasksFirst) {
  connect();
  feed(tasks("p1", {0, 1}));
  feed(tasks("p2", {7}));
  EXPECT_EQ(session.pending(), 3u);
  EXPECT_EQ(session.counts().received, 3u);
  Work first = session.take_work(2);
  ASSERT_THAT(seqs_of(first), ElementsAre(0u, 1u));
  EXPECT_EQ(first.tasks[0].producer(), "p1");
  EXPECT_EQ(first.tasks[0].payload(), "task-0");
  Work second = session.take_work(2);
  ASSERT_THAT(seqs_of(second), ElementsAre(7u));
  EXPECT_EQ(second.tasks[0].producer(), "p2");
  EXPECT_NE(first.id, second.id);
  EXPECT_EQ(session.pending(), 0u);
  EXPECT_EQ(session.running(), 3u);
}

// A producer's id is held once (ProducerIds): tasks from two frames view the same copy, and
// results name their producer right across the table's emptying when the consumer is idle.
TEST_F(ConsumerSession, TasksOfOneProducerShareOneCopyOfItsIdAndResultsNameIt) {
  const std::string longer = "producer-a-host-name-12345";  // over std::string's inline size
  connect();
  feed(tasks(longer, {0}));
  feed(tasks(longer, {1}));
  feed(tasks("p2", {2}));
  Work first = session.take_work(3);
  ASSERT_EQ(first.tasks.size(), 3u);
  EXPECT_EQ(first.tasks[0].producer().data(), first.tasks[1].producer().data());
  EXPECT_EQ(first.tasks[2].producer(), "p2");
  finish(first);
  auto out = flush();  // idle after this: the ids are forgotten
  ASSERT_TRUE(!out.empty() && out[0].has_results());
  ASSERT_EQ(out[0].results().results_size(), 3);
  EXPECT_EQ(out[0].results().results(0).producer(), longer);
  EXPECT_EQ(out[0].results().results(2).producer(), "p2");
  feed(tasks(longer + "-2", {5}));
  Work second = session.take_work(1);
  finish(second);
  out = flush();
  ASSERT_TRUE(!out.empty() && out[0].has_results());
  EXPECT_EQ(out[0].results().results(0).producer(), longer + "-2");
}

// Idle (nothing held, nothing to send), a consumer is ticked at the link's deadlines alone; any
// work brings back the regular ticks that task timeouts are checked on.
TEST_F(ConsumerSession, IsIdleOnlyWhenItHoldsNoTaskAndNoResult) {
  session.on_connect(now);
  EXPECT_FALSE(session.idle()) << "not welcomed yet";
  EXPECT_EQ(session.next_tick(now), now + milliseconds(50));
  feed(welcome(1000, 3));
  take_outbox(session);
  EXPECT_TRUE(session.idle());
  EXPECT_EQ(session.next_tick(now), session.link().next_deadline(now));
  EXPECT_GT(session.next_tick(now), now + milliseconds(1000));
  feed(tasks("p1", {0}));
  EXPECT_FALSE(session.idle()) << "a task pending";
  EXPECT_EQ(session.next_tick(now), now + milliseconds(250));
  Work work = session.take_work(1);
  EXPECT_FALSE(session.idle()) << "a task running";
  finish(work);
  EXPECT_FALSE(session.idle()) << "a result not sent yet";
  flush();
  EXPECT_TRUE(session.idle());
  session.stop(now);
  EXPECT_FALSE(session.idle()) << "stopping";
}

// Never idle (one task always running) while a stream of short-lived producers passes through:
// the id table stays bounded, and the running task's producer is still named right.
TEST_F(ConsumerSession, ProducersThatComeAndGoWhileItIsNeverIdleAreForgotten) {
  connect();
  feed(tasks("producer-that-stays-long-id", {0}));
  Work held = session.take_work(1);
  for (std::uint64_t i = 0; i < 3 * ProducerIds::kPruneAbove; ++i) {
    feed(tasks("producer-passing-" + std::to_string(i), {i}));
    Work work = session.take_work(1);
    finish(work);
    flush();
  }
  EXPECT_LE(session.producer_ids(), 2 * ProducerIds::kPruneAbove) << "not one per producer seen";
  finish(held);
  auto out = flush();
  ASSERT_TRUE(!out.empty() && out[0].has_results());
  EXPECT_EQ(out[0].results().results(0).producer(), "producer-that-stays-long-id");
  EXPECT_EQ(session.producer_ids(), 0u) << "idle: forgotten";
  EXPECT_EQ(session.counts().received, 3 * ProducerIds::kPruneAbove + 1);
}

TEST_F(ConsumerSession, TakeWorkRespectsItsMaximum) {
  connect();
  feed(tasks("p1", {0, 1, 2, 3}));
  EXPECT_EQ(session.take_work(1).tasks.size(), 1u);
  EXPECT_EQ(session.take_work(0).tasks.size(), 0u);
  EXPECT_EQ(session.pending(), 3u);
  EXPECT_EQ(session.running(), 1u);
}

// The consumer hands in the tasks vector of a finished batch: the work fills that storage, and
// a call that finds no work leaves it with the caller.
TEST_F(ConsumerSession, WorkTakesTheStorageItIsGivenOnlyWhenThereIsWork) {
  connect();
  std::vector<Delivery> room(300);
  const Delivery* storage = room.data();
  EXPECT_FALSE(session.next_work(1, now, SIZE_MAX, &room));
  EXPECT_EQ(room.data(), storage);
  feed(tasks("p1", {0, 1, 2}));
  Work work = session.take_work(3, &room);
  EXPECT_EQ(work.tasks.data(), storage);
  EXPECT_THAT(seqs_of(work), ElementsAre(0u, 1u, 2u));
}

TEST_F(ConsumerSession, TakeWorkFromAnEmptyQueueGivesNothing) {
  connect();
  Work work = session.take_work(4);
  EXPECT_THAT(work.tasks, IsEmpty());
  EXPECT_EQ(session.running(), 0u);
}

TEST_F(ConsumerSession, BatchesResultsInOneResultBatch) {
  connect();
  feed(tasks("p1", {0, 1, 2}));
  Work a = session.take_work(2);
  Work b = session.take_work(1);
  finish(b);
  finish(a);
  EXPECT_EQ(session.running(), 0u);
  auto out = flush();
  ASSERT_THAT(bodies(out), ElementsAre(Body::kResults));
  const auto& batch = out[0].results();
  ASSERT_EQ(batch.results_size(), 3);
  EXPECT_THAT(ref_seqs(batch.results()), ElementsAre(2u, 0u, 1u)) << "completion order";
  EXPECT_EQ(batch.results(0).producer(), "p1");
  EXPECT_EQ(batch.results(0).output(), "done-2");
  EXPECT_EQ(session.counts().ok, 3u);
  EXPECT_THAT(flush(), IsEmpty()) << "results go once";
}

TEST_F(ConsumerSession, CountsFailedResults) {
  connect();
  feed(tasks("p1", {0}));
  Work work = session.take_work(1);
  auto results = results_for(work);
  results[0].status = wire::FAILED;
  results[0].error = "boom";
  session.on_done(work.id, results);
  EXPECT_EQ(session.counts().failed, 1u);
  EXPECT_EQ(session.counts().ok, 0u);
  auto out = flush();
  ASSERT_THAT(bodies(out), ElementsAre(Body::kResults));
  ASSERT_EQ(out[0].results().results_size(), 1);
  EXPECT_EQ(out[0].results().results(0).error(), "boom");
}

TEST_F(ConsumerSession, IgnoresResultsOfUnknownWork) {
  connect();
  std::vector<Report> stray(1);
  session.on_done(99, stray);
  EXPECT_THAT(flush(), IsEmpty());
  EXPECT_EQ(session.counts().ok + session.counts().failed, 0u);
}

TEST_F(ConsumerSession, PillWithNothingHeldSaysGoodbyeAtOnce) {
  connect();
  feed(pill());
  EXPECT_EQ(session.phase(), Session::Phase::finishing);
  auto out = flush();
  ASSERT_THAT(bodies(out), ElementsAre(Body::kGoodbye));
  EXPECT_EQ(out[0].goodbye().released_size(), 0);
  EXPECT_EQ(out[0].goodbye().abandoned_size(), 0);
  EXPECT_EQ(session.phase(), Session::Phase::done);
}

TEST_F(ConsumerSession, PillSaysGoodbyeOnlyAfterRunningWorkIsReported) {
  connect();
  feed(tasks("p1", {0, 1}));
  Work work = session.take_work(2);
  feed(pill());
  EXPECT_EQ(session.phase(), Session::Phase::finishing);
  EXPECT_THAT(flush(), IsEmpty());
  EXPECT_EQ(session.phase(), Session::Phase::finishing);
  finish(work);
  auto out = flush();
  ASSERT_THAT(bodies(out), ElementsAre(Body::kResults, Body::kGoodbye));
  EXPECT_EQ(out[0].results().results_size(), 2);
  EXPECT_EQ(session.phase(), Session::Phase::done);
}

TEST_F(ConsumerSession, PillWaitsForTasksNotYetStarted) {
  connect();
  feed(tasks("p1", {0}));
  feed(pill());
  EXPECT_THAT(flush(), IsEmpty());
  Work work = session.take_work(1);
  ASSERT_EQ(work.tasks.size(), 1u) << "a pill never overtakes work";
  finish(work);
  EXPECT_THAT(bodies(flush()), ElementsAre(Body::kResults, Body::kGoodbye));
}

TEST_F(ConsumerSession, StopHandsBackUnstartedTasksWithCapacityZero) {
  connect();
  feed(tasks("p1", {0, 1, 2, 3}));
  Work running = session.take_work(1);
  session.stop(now);
  EXPECT_TRUE(session.stopping());
  EXPECT_EQ(session.phase(), Session::Phase::finishing);
  auto out = take_outbox(session);
  ASSERT_THAT(bodies(out), ElementsAre(Body::kCredit));
  const auto& credit = out[0].credit();
  ASSERT_TRUE(credit.has_capacity());
  EXPECT_EQ(credit.capacity(), 0u);
  EXPECT_EQ(credit.grant(), 0u);
  ASSERT_THAT(ref_seqs(credit.released()), ElementsAre(1u, 2u, 3u));
  EXPECT_EQ(credit.released(0).producer(), "p1");
  EXPECT_EQ(session.pending(), 0u);
  EXPECT_EQ(session.running(), 1u);
  EXPECT_EQ(session.counts().handed_back, 3u);
}

TEST_F(ConsumerSession, StopReleasesTasksThatArriveAfterIt) {
  connect();
  session.stop(now);
  take_outbox(session);
  feed(tasks("p1", {5, 6}));
  auto out = take_outbox(session);
  ASSERT_THAT(bodies(out), ElementsAre(Body::kCredit));
  EXPECT_EQ(out[0].credit().capacity(), 0u);
  EXPECT_THAT(ref_seqs(out[0].credit().released()), ElementsAre(5u, 6u));
  EXPECT_EQ(session.pending(), 0u);
  EXPECT_THAT(session.take_work(10).tasks, IsEmpty());
}

TEST_F(ConsumerSession, StopSaysGoodbyeOnlyAfterRunningWorkFinishes) {
  connect();
  feed(tasks("p1", {0, 1}));
  Work running = session.take_work(1);
  session.stop(now);
  take_outbox(session);
  EXPECT_THAT(flush(), IsEmpty());
  EXPECT_EQ(session.phase(), Session::Phase::finishing);
  finish(running);
  auto out = flush();
  ASSERT_THAT(bodies(out), ElementsAre(Body::kResults, Body::kGoodbye));
  EXPECT_THAT(ref_seqs(out[0].results().results()), ElementsAre(0u));
  EXPECT_EQ(out[1].goodbye().released_size(), 0) << "released already, with the credit";
  EXPECT_EQ(session.phase(), Session::Phase::done);
}

TEST_F(ConsumerSession, StopTwiceHandsBackOnce) {
  connect();
  feed(tasks("p1", {0}));
  session.stop(now);
  session.stop(now);
  EXPECT_EQ(count_of(take_outbox(session), Body::kCredit), 1u);
  EXPECT_EQ(session.counts().handed_back, 1u);
}

TEST_F(ConsumerSession, AbortGoodbyeListsReleasedAndAbandonedTasks) {
  connect();
  feed(tasks("p1", {0, 1, 2, 3}));
  Work running = session.take_work(2);
  session.abort(now);
  auto out = take_outbox(session);
  ASSERT_THAT(bodies(out), ElementsAre(Body::kGoodbye));
  const auto& goodbye = out[0].goodbye();
  EXPECT_THAT(ref_seqs(goodbye.released()), ElementsAre(2u, 3u));
  ASSERT_THAT(ref_seqs(goodbye.abandoned()), ElementsAre(0u, 1u));
  EXPECT_EQ(goodbye.abandoned(0).producer(), "p1");
  EXPECT_EQ(session.phase(), Session::Phase::done);
}

TEST_F(ConsumerSession, AbortAfterStopAbandonsOnlyWhatRuns) {
  connect();
  feed(tasks("p1", {0, 1}));
  Work running = session.take_work(1);
  session.stop(now);
  take_outbox(session);
  session.abort(now);
  auto out = take_outbox(session);
  ASSERT_THAT(bodies(out), ElementsAre(Body::kGoodbye));
  EXPECT_EQ(out[0].goodbye().released_size(), 0);
  EXPECT_THAT(ref_seqs(out[0].goodbye().abandoned()), ElementsAre(0u));
}

TEST_F(ConsumerSession, ANewCapacityIsAnnouncedAtOnceAndInTheNextHello) {
  connect(welcome(100, 3));
  session.set_capacity(40);
  session.flush(now);
  auto out = take_outbox(session);
  ASSERT_THAT(bodies(out), ElementsAre(Body::kCredit));
  EXPECT_EQ(out[0].credit().capacity(), 40u);
  EXPECT_EQ(out[0].credit().released_size(), 0);
  session.set_capacity(40);
  session.flush(now);
  EXPECT_THAT(take_outbox(session), IsEmpty()) << "no change, nothing said";
  session.on_connect(now);
  out = take_outbox(session);
  ASSERT_THAT(bodies(out), ElementsAre(Body::kHello));
  EXPECT_EQ(out[0].hello().capacity(), 40u);
}

TEST_F(ConsumerSession, AStoppingConsumerDoesNotRaiseItsCapacity) {
  connect(welcome(100, 3));
  session.stop(now);
  take_outbox(session);
  session.set_capacity(40);
  session.flush(now);
  for (const auto& e : take_outbox(session))
    EXPECT_FALSE(e.has_credit() && e.credit().capacity() > 0) << e.DebugString();
}

TEST_F(ConsumerSession, ATaskBatchIsReadInPlaceAndItsTasksKeepTheFrame) {
  connect();
  auto frame = frame_of(tasks("p1", {3, 4}));
  ASSERT_TRUE(session.on_frame(*frame, frame, now)) << "a plain task batch is read in place";
  const std::weak_ptr<std::string> kept = frame;
  frame.reset();
  EXPECT_FALSE(kept.expired()) << "the pending tasks hold it";
  Work work = session.take_work(2);
  ASSERT_THAT(seqs_of(work), ElementsAre(3u, 4u));
  EXPECT_EQ(work.tasks[1].producer(), "p1");
  EXPECT_EQ(work.tasks[1].payload(), "task-4");
  EXPECT_EQ(work.tasks[1].attempt(), 1u);
  EXPECT_EQ(session.counts().received, 2u);
  work.tasks.clear();
  EXPECT_TRUE(kept.expired()) << "freed with its last task";
}

TEST_F(ConsumerSession, ATaskWithHeadersIsDecodedAndKeepsThem) {
  connect();
  wire::Envelope envelope = tasks("p1", {0});
  envelope.set_version(kProtocolVersion);
  auto* header = envelope.mutable_tasks()->mutable_tasks(0)->add_headers();
  header->set_key("trace");
  header->set_value("abc");
  const auto frame = frame_of(envelope);
  EXPECT_FALSE(session.on_frame(*frame, frame, now)) << "BatchReader does not take headers";
  // The decoder reuses its envelope: the tasks must not point into it (under ASan, a view that
  // did would be a use after free below).
  auto decoded = std::make_unique<wire::Envelope>(envelope);
  session.on_envelope(*decoded, now);
  decoded.reset();
  const Work work = session.take_work(1);
  ASSERT_EQ(work.tasks.size(), 1u);
  EXPECT_EQ(Task(work.tasks[0]).header("trace"), "abc");
  EXPECT_EQ(work.tasks[0].payload(), "task-0");
}

TEST_F(ConsumerSession, ABatchReadInPlaceShowsTheBrokerAlive) {
  connect(welcome(100, 3));  // silent for more than 300 ms: lost
  now += milliseconds(200);
  const auto frame = frame_of(tasks("p1", {0}));
  ASSERT_TRUE(session.on_frame(*frame, frame, now));
  session.on_tick(now + milliseconds(200));
  EXPECT_FALSE(session.link().wants_new_connection());
  EXPECT_EQ(session.pending(), 1u);
}

TEST_F(ConsumerSession, SilenceMakesItReconnectAndDropUnstartedTasks) {
  connect(welcome(100, 3));
  feed(tasks("p1", {0, 1, 2}));
  Work running = session.take_work(1);
  session.on_tick(now + milliseconds(300));
  EXPECT_FALSE(session.link().wants_new_connection());
  session.on_tick(now + milliseconds(301));
  EXPECT_TRUE(session.link().wants_new_connection());
  EXPECT_EQ(session.pending(), 0u) << "the broker requeues them; they are not ours any more";
  EXPECT_EQ(session.running(), 1u);
  EXPECT_EQ(session.phase(), Session::Phase::running);
}

TEST_F(ConsumerSession, DropsResultsOfDeliveriesFromAnEarlierConnection) {
  // The broker ended those deliveries with the old session and gave the tasks out again: a
  // result for one now would be refused as a delivery the new session does not hold.
  connect(welcome(100, 3));
  feed(tasks("p1", {0, 1}));
  Work done_before = session.take_work(1);
  Work running = session.take_work(1);
  finish(done_before);  // its result waits for the flush
  now += milliseconds(301);
  session.on_tick(now);
  ASSERT_TRUE(session.link().wants_new_connection());
  session.on_connect(now);
  feed(welcome(100, 3));
  take_outbox(session);
  finish(running);  // finishes after the reconnect
  EXPECT_THAT(flush(), IsEmpty());
  EXPECT_EQ(session.counts().stale, 2u);
  EXPECT_EQ(session.running(), 0u);
}

TEST_F(ConsumerSession, AResultOverTheBrokersMessageLimitGoesAsAFailureWithTheReason) {
  connect(welcome(100, 3, 4u << 20, 64 * 1024));
  feed(tasks("p1", {0}));
  const Work work = session.take_work(1);
  std::vector<Report> results = results_for(work);
  results[0].output = std::string(70 * 1024, 'x');
  results[0].attempts = 1;
  session.on_done(work.id, results);
  const auto out = flush();
  ASSERT_THAT(bodies(out), ElementsAre(Body::kResults));
  const auto& sent = out[0].results().results(0);
  EXPECT_EQ(sent.status(), wire::FAILED);
  EXPECT_THAT(sent.error(), HasSubstr("71680 bytes"));
  EXPECT_THAT(sent.error(), HasSubstr("--max-message-bytes 65536"));
  EXPECT_TRUE(sent.output().empty());
  EXPECT_EQ(session.counts().too_large, 1u);
}

TEST_F(ConsumerSession, AResultThatWouldTakeABatchOverTheMessageLimitGoesInTheNextOne) {
  // 4,096-byte messages: batches aim at 1,024 bytes and a result may be 3,072 (4,096 - 1,024).
  connect(welcome(100, 3, 3072, 4096));
  feed(tasks("p1", {0, 1, 2}));
  const Work work = session.take_work(3);
  std::vector<Report> results = results_for(work);
  results[0].output = std::string(1010, 'a');  // just under the batch's target
  results[1].output = std::string(3072, 'b');  // the two would be over 4,096
  session.on_done(work.id, results);
  session.flush(now);
  EXPECT_THAT(frame_sizes(session.link()), Each(Le(4096u)));
  const auto out = take_outbox(session);
  ASSERT_THAT(bodies(out), ElementsAre(Body::kResults, Body::kResults, Body::kResults));
  EXPECT_EQ(out[0].results().results_size(), 1);
  EXPECT_EQ(out[1].results().results(0).output(), std::string(3072, 'b'));
  EXPECT_EQ(session.counts().too_large, 0u);
  std::vector<std::uint64_t> seqs;
  for (const auto& batch : out) {
    const auto batch_seqs = ref_seqs(batch.results().results());
    seqs.insert(seqs.end(), batch_seqs.begin(), batch_seqs.end());
  }
  EXPECT_THAT(seqs, ElementsAre(0u, 1u, 2u)) << "none lost, none out of order";
}

TEST_F(ConsumerSession, NotWelcomedAsksForANewConnection) {
  connect();
  feed(tasks("p1", {0}));
  feed(error(wire::NOT_WELCOMED));
  EXPECT_TRUE(session.link().wants_new_connection());
  EXPECT_EQ(session.pending(), 0u);
  session.on_connect(now);
  EXPECT_FALSE(session.link().wants_new_connection());
}

TEST_F(ConsumerSession, AStopDuringAReconnectIsAnnouncedToTheNewSession) {
  connect();
  feed(error(wire::NOT_WELCOMED));
  session.stop(now);
  EXPECT_THAT(take_outbox(session), IsEmpty()) << "no session to tell";
  session.on_connect(now);
  feed(welcome());
  auto out = take_outbox(session);
  ASSERT_THAT(bodies(out), ElementsAre(Body::kHello, Body::kCredit));
  EXPECT_EQ(out[1].credit().capacity(), 0u);
}

TEST_F(ConsumerSession, AFatalErrorFailsTheSession) {
  connect();
  feed(error(wire::WRONG_SOCKET, {}, true));
  EXPECT_EQ(session.phase(), Session::Phase::failed);
  EXPECT_THAT(session.link().failure(), HasSubstr("refused for a test"));
}

TEST_F(ConsumerSession, ANonFatalErrorIsOnlyLogged) {
  connect();
  feed(error(wire::BAD_REQUEST));
  EXPECT_EQ(session.phase(), Session::Phase::running);
  EXPECT_FALSE(session.link().wants_new_connection());
}

TEST_F(ConsumerSession, FailsWhenTheBrokerStaysLostPastTheReconnectTimeout) {
  connect(welcome(100, 3));
  const TimePoint lost = now + milliseconds(301);
  session.on_tick(lost);
  ASSERT_TRUE(session.link().wants_new_connection());
  session.on_connect(lost);
  session.on_tick(lost + milliseconds(20000));
  EXPECT_EQ(session.phase(), Session::Phase::running);
  session.on_tick(lost + milliseconds(20001));
  EXPECT_EQ(session.phase(), Session::Phase::failed);
  EXPECT_THAT(session.link().failure(), HasSubstr("--reconnect-timeout"));
}

// What a signal means (DESIGN.md §2 rule 5): the first is a local pill, the second stops at once.
TEST_F(ConsumerSession, TheFirstSignalStopsTakingWorkAndTheSecondHandsEverythingBackAtOnce) {
  connect();
  feed(tasks("p1", {0, 1, 2}));
  const Work work = session.take_work(1);
  EXPECT_EQ(session.on_signal(SIGTERM, now), SignalAction::drain);
  EXPECT_TRUE(session.stopping());
  auto out = take_outbox(session);
  ASSERT_THAT(bodies(out), ElementsAre(Body::kCredit));
  EXPECT_THAT(ref_seqs(out[0].credit().released()), ElementsAre(1u, 2u));
  EXPECT_EQ(session.on_signal(SIGINT, now), SignalAction::stop_now);
  out = take_outbox(session);
  ASSERT_THAT(bodies(out), ElementsAre(Body::kGoodbye));
  EXPECT_THAT(ref_seqs(out[0].goodbye().abandoned()), ElementsAre(0u));
  EXPECT_TRUE(session.finished());
  EXPECT_EQ(seqs_of(work), std::vector<std::uint64_t>{0u});
}

// Work batching: one running mean of handler time decides how much a worker gets at once.
TEST_F(ConsumerSession, WorkGoesOneTaskAtATimeUntilTheHandlerIsMeasured) {
  connect();
  feed(tasks("p1", {0, 1, 2, 3}));
  const auto work = session.next_work(2, now);
  ASSERT_TRUE(work.has_value());
  EXPECT_EQ(work->tasks.size(), 1u) << "an unmeasured handler may be slow or stuck";
}

TEST_F(ConsumerSession, AFastHandlerGetsAFairShareOfWhatIsPending) {
  connect();
  feed(tasks("p1", {0}));
  auto first = *session.next_work(1, now);
  auto results = results_for(first);
  session.on_done(first.id, results, std::chrono::microseconds(10));  // 10 us a task: fast
  std::vector<std::uint64_t> seqs;
  for (std::uint64_t s = 1; s <= 7; ++s)
    seqs.push_back(s);
  feed(tasks("p1", seqs));
  EXPECT_EQ(session.next_work(2, now)->tasks.size(), 4u) << "7 pending, 2 idle workers: ceil(7/2)";
  EXPECT_EQ(session.next_work(1, now)->tasks.size(), 3u);
  EXPECT_FALSE(session.next_work(1, now).has_value()) << "nothing pending";
}

TEST_F(ConsumerSession, ASlowHandlerGetsOneTaskAtATime) {
  connect();
  feed(tasks("p1", {0}));
  auto first = *session.next_work(1, now);
  auto results = results_for(first);
  session.on_done(first.id, results, milliseconds(5));
  feed(tasks("p1", {1, 2, 3, 4}));
  EXPECT_EQ(session.next_work(1, now)->tasks.size(), 1u);
}

TEST_F(ConsumerSession, NoWorkWithoutAnIdleWorker) {
  connect();
  feed(tasks("p1", {0, 1}));
  EXPECT_FALSE(session.next_work(0, now).has_value());
  EXPECT_EQ(session.pending(), 2u);
}

TEST(ConsumerSessionPrefetch, AutoPrefetchAnnouncesADeeperCapacityOnceFastWorkIsMeasured) {
  SessionConfig config;
  config.id = "c1";
  config.capacity = 4;
  config.workers = 2;
  config.auto_prefetch = true;
  Session session(config, kStart);
  session.on_connect(kStart);
  wire::Envelope welcome_envelope = welcome();
  session.on_envelope(welcome_envelope, kStart);
  wire::Envelope batch = tasks("p1", {0, 1});
  session.on_envelope(batch, kStart);
  const Work work = session.take_work(2);
  auto results = results_for(work);
  take_outbox(session);
  session.on_done(work.id, results, std::chrono::microseconds(2));  // 1 us a task
  const auto out = take_outbox(session);
  ASSERT_THAT(bodies(out), ElementsAre(Body::kCredit));
  EXPECT_EQ(out[0].credit().capacity(), 2u + AutoPrefetch::kMaxPrefetch);
  EXPECT_EQ(session.capacity(), 2u + AutoPrefetch::kMaxPrefetch);
}

}  // namespace
}  // namespace conveyor::consumer
