// --resume (DESIGN.md §7.2): what an earlier run's results file says, and how the session skips
// what is done and still counts every task once; exit status 3 when tasks failed or died.
#include "conveyor/producer/resume.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "unit/producer_session_fixture.hpp"

namespace conveyor::producer {
namespace {

using namespace conveyor::testing;
using ::testing::ElementsAre;
using ::testing::HasSubstr;

const std::string kTwoLines =
    R"({"id":"p1:0","seq":0,"status":"ok","output":"a","consumer":"c1","attempts":1})"
    "\n"
    R"({"id":"p1:2","seq":2,"status":"dead","output":"","error":"x","consumer":"","attempts":3})"
    "\n";

TEST(ResumeScan, ReadsEveryFinalResultWithItsStatus) {
  const ResumePoint point = scan_results(kTwoLines, "p1");
  EXPECT_EQ(point.final.size(), 2u);
  EXPECT_EQ(point.final.at(0), wire::OK);
  EXPECT_EQ(point.final.at(2), wire::DEAD);
  EXPECT_EQ(point.valid_bytes, kTwoLines.size());
  EXPECT_EQ(point.torn_bytes, 0u);
}

TEST(ResumeScan, ATornLastLineIsNotAResultAndIsMarkedForCutting) {
  const std::string torn = kTwoLines + R"({"id":"p1:5","seq":5,"sta)";
  const ResumePoint point = scan_results(torn, "p1");
  EXPECT_EQ(point.final.size(), 2u);
  EXPECT_FALSE(point.final.contains(5));
  EXPECT_EQ(point.valid_bytes, kTwoLines.size());
  EXPECT_EQ(point.torn_bytes, torn.size() - kTwoLines.size());
}

TEST(ResumeScan, AnEmptyFileHasNothingToSkip) {
  const ResumePoint point = scan_results("", "p1");
  EXPECT_TRUE(point.final.empty());
  EXPECT_EQ(point.valid_bytes, 0u);
}

TEST(ResumeScan, AnotherProducersFileIsRefusedNamingTheLine) {
  try {
    scan_results(kTwoLines, "p2");
    FAIL() << "another producer's results";
  } catch (const std::runtime_error& e) {
    EXPECT_THAT(e.what(), HasSubstr("line 1"));
    EXPECT_THAT(e.what(), HasSubstr("p1:0"));
  }
}

TEST(ResumeScan, ACompleteLineThatIsNotJsonIsRefused) {
  EXPECT_THROW(scan_results(kTwoLines + "not json\n", "p1"), std::runtime_error);
}

TEST_F(ProducerSession, ResumedTasksAreSkippedCountedOnceAndTheRestSent) {
  session.resume(scan_results(kTwoLines, "p1"));
  connect();
  add(4);  // seqs 0..3: 0 and 2 are done
  feed(credit(10));
  EXPECT_THAT(task_seqs(flush()), ElementsAre(1u, 3u));
  EXPECT_EQ(session.counts().resumed, 2u);
  EXPECT_EQ(session.counts().produced, 4u);
  EXPECT_EQ(session.counts().ok, 1u);
  EXPECT_EQ(session.counts().dead, 1u);
  feed(results({{1, wire::OK}, {3, wire::OK}}));
  session.end_of_source();
  flush();
  EXPECT_EQ(session.phase(), Session::Phase::done);
  EXPECT_EQ(session.counts().done(), 4u) << "each task once";
}

TEST_F(ProducerSession, AResultOfAResumedTaskIsAcknowledgedButNotWrittenAgain) {
  session.resume(scan_results(kTwoLines, "p1"));
  connect();
  feed(results({{0, wire::OK}}));  // the broker still had it unacknowledged from the dead run
  EXPECT_TRUE(session.finished_results().empty());
  const auto out = flush();
  ASSERT_EQ(out.size(), 1u);
  EXPECT_TRUE(out[0].has_ack());
  EXPECT_EQ(session.counts().ok, 1u);
}

TEST_F(ProducerSession, AResultTheDeadRunNeverWroteIsWrittenAndItsTaskNotSentAgain) {
  session.resume(scan_results(kTwoLines, "p1"));  // 0 and 2 are on disk
  connect();
  feed(results({{3, wire::OK}}));  // sent by the dead run, final after it died
  EXPECT_EQ(finished_seqs(), (std::vector<std::uint64_t>{3}));
  add(4);
  feed(credit(10));
  EXPECT_THAT(task_seqs(flush()), ElementsAre(1u)) << "3 would run twice";
  feed(results({{1, wire::OK}}));
  session.end_of_source();
  flush();
  EXPECT_EQ(session.phase(), Session::Phase::done);
  EXPECT_EQ(session.counts().done(), 4u) << "each task once";
  EXPECT_EQ(session.counts().duplicates, 0u);
}

TEST_F(ProducerSession, SomeTasksFailedOrDeadIsExitStatusThree) {
  connect();
  add(2);
  feed(credit(2));
  flush();
  feed(results({{0, wire::OK}, {1, wire::FAILED}}));
  session.end_of_source();
  flush();
  ASSERT_EQ(session.phase(), Session::Phase::done);
  EXPECT_EQ(session.exit_status(), kExitSomeTasksFailed);
  EXPECT_THAT(session.failure(), HasSubstr("1 tasks failed and 0 died"));
}

TEST(ProducerSessionExit, AllowFailuresMakesItZero) {
  SessionConfig config = config_with_window(10);
  config.allow_failures = true;
  Session session(config, kStart);
  session.on_connect(kStart);
  wire::Envelope w = welcome();
  session.on_envelope(w, kStart);
  wire::Envelope r = results({{0, wire::DEAD}});
  session.add_task("x");
  session.on_envelope(r, kStart);
  session.end_of_source();
  session.flush(kStart);
  EXPECT_EQ(session.exit_status(), 0);
}

TEST_F(ProducerSession, AResumedDeadTaskStillMakesTheRunExitThree) {
  session.resume(scan_results(kTwoLines, "p1"));  // p1:2 is dead
  connect();
  session.end_of_source();
  flush();
  EXPECT_EQ(session.exit_status(), kExitSomeTasksFailed);
}

}  // namespace
}  // namespace conveyor::producer
