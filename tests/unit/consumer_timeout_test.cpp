// --task-timeout and retries on the consumer (DESIGN.md §7.2): tasks go alone, a handler stuck
// past its deadline is given up, exec: commands are killed with their process group, exit
// status 75 asks for a retry, and a handler failing most tasks is reported.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <signal.h>

#include <fstream>
#include <thread>

#include "conveyor/consumer/failure_watch.hpp"
#include "conveyor/consumer/handlers.hpp"
#include "conveyor/consumer/session.hpp"
#include "conveyor/consumer/worker_pool.hpp"
#include "unit/session_envelopes.hpp"

namespace conveyor::consumer {
namespace {

using namespace conveyor::testing;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using Body = wire::Envelope::BodyCase;

SessionConfig timeout_config() {
  SessionConfig config;
  config.id = "c1";
  config.capacity = 4;
  config.workers = 2;
  config.task_timeout = milliseconds(500);
  return config;
}

class ConsumerTimeout : public ::testing::Test {
 protected:
  void SetUp() override {
    session.on_connect(now);
    wire::Envelope w = welcome(10000);  // heartbeats far apart: the link stays up through ticks
    session.on_envelope(w, now);
    take_outbox(session);
  }
  void feed(wire::Envelope envelope) { session.on_envelope(envelope, now); }

  TimePoint now = kStart;
  Session session{timeout_config(), kStart};
};

TEST_F(ConsumerTimeout, WithATimeoutEveryTaskGoesAloneEvenForAFastHandler) {
  feed(tasks("p1", {0}));
  auto first = *session.next_work(1, now);
  std::vector<Report> results(1);
  results[0].producer = "p1";
  results[0].status = wire::OK;
  results[0].attempts = 1;
  session.on_done(first.id, results, std::chrono::microseconds(1));
  feed(tasks("p1", {1, 2, 3}));
  EXPECT_EQ(session.next_work(1, now)->tasks.size(), 1u);
}

TEST_F(ConsumerTimeout, AHandlerStuckPastTheTimeoutIsGivenUpAndTheConsumerStops) {
  feed(tasks("p1", {0, 1}));
  const Work stuck = *session.next_work(2, now);
  session.on_tick(now + milliseconds(500) + Session::kStuckGrace);
  EXPECT_FALSE(session.stuck()) << "within the grace an exec: command is still being killed";
  session.on_tick(now + milliseconds(501) + Session::kStuckGrace);
  ASSERT_TRUE(session.stuck());
  EXPECT_TRUE(session.stopping()) << "it takes no more work";
  EXPECT_THAT(session.failure(), HasSubstr("p1:0"));
  EXPECT_THAT(session.failure(), HasSubstr("task.deadline()"));
  session.flush(now);
  const auto out = take_outbox(session);
  std::vector<wire::Result> sent;
  for (const auto& e : out) {
    if (e.has_results()) sent.assign(e.results().results().begin(), e.results().results().end());
  }
  ASSERT_EQ(sent.size(), 1u);
  EXPECT_TRUE(sent[0].timed_out()) << "the broker gives it out again at once";
  EXPECT_EQ(sent[0].attempts(), 1u);
  EXPECT_THAT(sent[0].error(), HasSubstr("timed out after 500 ms"));
  EXPECT_EQ(session.phase(), Session::Phase::done) << "nothing else runs: goodbye";
  EXPECT_EQ(session.exit_status(), 1);
  std::vector<Report> late(1);
  session.on_done(stuck.id, late);  // the thread comes back at last: too late to count
  EXPECT_EQ(session.counts().timed_out, 1u);
}

TEST_F(ConsumerTimeout, NoTimeoutNoGivingUp) {
  Session patient(SessionConfig{}, now);
  patient.on_connect(now);
  wire::Envelope w = welcome();
  patient.on_envelope(w, now);
  wire::Envelope batch = tasks("p1", {0});
  patient.on_envelope(batch, now);
  patient.next_work(1, now);
  patient.on_tick(now + std::chrono::hours(1));
  EXPECT_FALSE(patient.stuck());
}

TEST(FailureWatch, WarnsWhenMostOfTheLastTasksFailedThenAtMostOnceAMinute) {
  FailureWatch watch;
  TimePoint now = kStart;
  std::optional<std::string> warning;
  for (std::size_t i = 0; i < FailureWatch::kWindow && !warning; ++i)
    warning = watch.on_result(false, "exit status 127: not found", now);
  ASSERT_TRUE(warning.has_value());
  EXPECT_THAT(*warning, HasSubstr("20 of the last 20"));
  EXPECT_THAT(*warning, HasSubstr("exit status 127"));
  EXPECT_FALSE(watch.on_result(false, "again", now + std::chrono::seconds(59)));
  EXPECT_TRUE(watch.on_result(false, "again", now + std::chrono::seconds(60)));
}

TEST(FailureWatch, StaysQuietWhileMostTasksSucceed) {
  FailureWatch watch;
  for (int i = 0; i < 100; ++i)
    EXPECT_FALSE(watch.on_result(i % 3 != 0, "sometimes", kStart)) << i;
}

Delivery task_with(const std::string& payload) {
  wire::Task task;
  task.set_producer("p1");
  task.set_seq(5);
  task.set_attempt(2);
  task.set_payload(payload);
  return Delivery::copy_of(std::move(task));
}

TEST(ExecTimeout, ACommandPastItsDeadlineIsKilledWithItsProcessGroup) {
  const std::string pidfile = ::testing::TempDir() + "/conveyor-exec-child.pid";
  std::remove(pidfile.c_str());
  Handler handler = exec_handler("sleep 600 & echo $! > " + pidfile + "; wait");
  const auto started = Clock::now();
  const Delivery task = task_with("");  // named: the report views its producer
  const Report result = run_handler(handler, task, Clock::now() + milliseconds(300));
  EXPECT_LT(Clock::now() - started, std::chrono::seconds(5));
  EXPECT_EQ(result.status, wire::FAILED);
  EXPECT_TRUE(result.timed_out);
  EXPECT_THAT(result.error, HasSubstr("timed out after"));
  pid_t child = 0;
  std::ifstream(pidfile) >> child;
  ASSERT_GT(child, 0) << "the command started its child";
  // The background sleep was in the command's process group: it is gone too.
  bool gone = false;
  for (int i = 0; i < 200 && !gone; ++i) {
    gone = ::kill(child, 0) != 0;
    if (!gone) std::this_thread::sleep_for(milliseconds(10));  // reaped by init, soon
  }
  EXPECT_TRUE(gone) << "pid " << child << " outlived the timeout";
}

TEST(ExecTimeout, ExitStatus75AsksForARetry) {
  const Delivery task = task_with("");  // named: the report views its producer
  const Report result = run_handler(exec_handler("echo busy >&2; exit 75"), task);
  EXPECT_EQ(result.status, wire::FAILED);
  EXPECT_TRUE(result.retry);
  EXPECT_FALSE(result.timed_out);
  EXPECT_THAT(result.error, HasSubstr("exit status 75"));
  EXPECT_THAT(result.error, HasSubstr("busy"));
}

TEST(ExecTimeout, OtherFailuresAreNotRetried) {
  const Delivery task = task_with("");  // named: the report views its producer
  const Report result = run_handler(exec_handler("exit 3"), task);
  EXPECT_EQ(result.status, wire::FAILED);
  EXPECT_FALSE(result.retry);
}

TEST(RunHandler, ACppHandlerSeesItsDeadlineAndCanAskForARetry) {
  std::optional<TimePoint> seen;
  const TimePoint deadline = Clock::now() + std::chrono::seconds(30);
  Handler handler = [&](const Task& task) {
    seen = task.deadline();
    return task.cancelled() ? Result::failed("late") : Result::retry("not yet");
  };
  const Delivery task = task_with("x");  // named: the report views its producer
  const Report result = run_handler(handler, task, deadline);
  EXPECT_EQ(seen, std::optional<TimePoint>(deadline));
  EXPECT_TRUE(result.retry);
  EXPECT_EQ(result.error, "not yet");
  EXPECT_EQ(result.attempts, 2u) << "the delivery it answers";
}

TEST(RunHandler, APassedDeadlineReadsAsCancelled) {
  bool cancelled = false;
  Handler handler = [&](const Task& task) {
    cancelled = task.cancelled();
    return Result::timed_out("gave up at the deadline");
  };
  const Delivery task = task_with("x");  // named: the report views its producer
  const Report result = run_handler(handler, task, Clock::now());
  EXPECT_TRUE(cancelled);
  EXPECT_TRUE(result.timed_out);
}

}  // namespace
}  // namespace conveyor::consumer
