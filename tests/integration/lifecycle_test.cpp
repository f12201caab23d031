// DESIGN.md §7.2 with the real executables: every run ends and says how it went. A hung task
// times out, a flaky one is retried after waits that grow, a producer killed mid-run resumes
// without redoing what is done, exit statuses say whether any task failed, and an idle consumer
// (woken only at its link's deadlines) still notices a lost broker and works for the next one.
#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <csignal>
#include <fstream>
#include <map>
#include <sstream>

#include "conveyor/producer/source.hpp"
#include "support/cluster.hpp"
#include "support/http.hpp"

namespace conveyor::testing {
namespace {

using Clock = std::chrono::steady_clock;

TEST(Lifecycle, AHungTaskTimesOutToDeadWhileEveryOtherTaskIsOk) {
  Cluster job;
  job.start_broker({"--producers", "1", "--exit-when-drained", "--max-attempts", "3"});
  // Task 3 hangs on every attempt; the rest echo.
  Process& c1 = job.start_consumer(
      "c1", {"--handler", R"(exec:read n; if [ "$n" = 3 ]; then sleep 600; fi; echo $n)",
             "--concurrency", "2", "--task-timeout", "1s"});
  ASSERT_TRUE(job.wait_connected("c1")) << job.log("c1");
  const auto started = Clock::now();
  Process& p1 = job.start_producer("p1", {"--source", "gen:20"});
  ASSERT_EQ(p1.wait(60s), kSomeTasksFailed) << job.log("p1");
  // 3 attempts of 1 s, each redelivered at once, plus a heartbeat and the job itself.
  EXPECT_LT(Clock::now() - started, 10s);
  const auto results = read_results(job.results_path("p1"));
  ASSERT_EQ(results.size(), 20u);
  for (const auto& [seq, r] : results) {
    if (seq == 3) {
      EXPECT_EQ(r.at("status"), "dead") << r.dump();
      EXPECT_EQ(r.at("attempts"), 3) << r.dump();
      EXPECT_NE(r.at("error").get<std::string>().find("timed out after"), std::string::npos)
          << r.dump();
    } else {
      EXPECT_EQ(r.at("status"), "ok") << r.dump();
      EXPECT_EQ(r.at("output"), std::to_string(seq) + "\n");
    }
  }
  EXPECT_EQ(c1.wait(20s), 0) << "a killed exec: command does not end the consumer";
  EXPECT_EQ(job.broker().wait(20s), 0) << job.log("broker");
}

TEST(Lifecycle, AConsumerWhoseCppHandlerIgnoresItsDeadlineExitsOneAndTheTaskRunsElsewhere) {
  Cluster job;
  job.start_broker({"--producers", "1", "--exit-when-drained"});
  // sleep:MS is a C++ handler that does not watch task.deadline(): it cannot be stopped.
  Process& stuck = job.start_consumer("stuck", {"--handler", "sleep:60000", "--task-timeout",
                                                "500ms", "--prefetch", "0", "--concurrency", "1"});
  ASSERT_TRUE(job.wait_connected("stuck")) << job.log("stuck");
  Process& p1 = job.start_producer("p1", {"--source", "gen:1"});
  const auto started = Clock::now();
  EXPECT_EQ(stuck.wait(20s), 1) << job.log("stuck");
  EXPECT_LT(Clock::now() - started, 10s) << "the timeout and its grace, not the 60 s sleep";
  EXPECT_NE(job.error_line("stuck").find("task.deadline()"), std::string::npos) << job.log("stuck");
  Process& rescue = job.start_consumer("rescue", {"--handler", "echo"});
  ASSERT_EQ(p1.wait(30s), 0) << job.log("p1");
  const auto results = read_results(job.results_path("p1"));
  ASSERT_EQ(results.size(), 1u);
  EXPECT_EQ(results.at(0).at("consumer"), "rescue");
  EXPECT_EQ(results.at(0).at("attempts"), 2) << "the timed-out delivery counted";
  EXPECT_EQ(rescue.wait(20s), 0);
}

// attempt -> the times (ns since the epoch) at which tasks ran that attempt, from the log file.
std::map<int, std::map<std::string, long long>> attempt_times(const std::string& path) {
  std::map<int, std::map<std::string, long long>> times;
  std::ifstream in(path);
  std::string id;
  int attempt = 0;
  long long ns = 0;
  while (in >> id >> attempt >> ns)
    times[attempt][id] = ns;
  return times;
}

TEST(Lifecycle, AFlakyTaskSucceedsOnALaterAttemptAfterWaitsThatGrow) {
  Cluster job;
  job.start_broker({"--producers", "1", "--exit-when-drained", "--max-attempts", "5",
                    "--retry-delay", "200ms", "--retry-delay-max", "10s"});
  const std::string runs = job.path("runs.txt");
  // Attempts 1 and 2 ask for a retry (exit 75), the third succeeds.
  job.start_consumer("c1", {"--handler",
                            "exec:echo \"$CONVEYOR_TASK_ID $CONVEYOR_TASK_ATTEMPT $(date +%s%N)\" "
                            ">> " +
                                runs + "; [ \"$CONVEYOR_TASK_ATTEMPT\" -ge 3 ] || exit 75; cat",
                            "--concurrency", "4"});
  ASSERT_TRUE(job.wait_connected("c1")) << job.log("c1");
  Process& p1 = job.start_producer("p1", {"--source", "gen:20"});
  ASSERT_EQ(p1.wait(60s), 0) << job.log("p1");
  const auto results = read_results(job.results_path("p1"));
  ASSERT_EQ(results.size(), 20u);
  for (const auto& [seq, r] : results) {
    EXPECT_EQ(r.at("status"), "ok") << r.dump();
    EXPECT_EQ(r.at("attempts"), 3) << r.dump();
  }
  auto times = attempt_times(runs);
  ASSERT_EQ(times[1].size(), 20u);
  ASSERT_EQ(times[3].size(), 20u);
  double first_waits = 0;
  double second_waits = 0;
  for (const auto& [id, t1] : times[1]) {
    const double wait1 = static_cast<double>(times[2].at(id) - t1) / 1e6;  // ms
    const double wait2 = static_cast<double>(times[3].at(id) - times[2].at(id)) / 1e6;
    EXPECT_LT(wait1, 200 + 300) << id << ": at most --retry-delay, give or take a dispatch";
    EXPECT_LT(wait2, 400 + 300) << id << ": at most twice that";
    first_waits += wait1;
    second_waits += wait2;
  }
  // Full jitter draws each wait from [0, bound]: over 20 tasks the second waits are longer.
  EXPECT_GT(second_waits, first_waits) << first_waits / 20 << " ms then " << second_waits / 20;
}

TEST(Lifecycle, AProducerKilledAndResumedEndsWithEveryTaskOnceRedoingAtMostItsWindow) {
  Cluster job;
  job.start_broker({"--producers", "1"});  // stays up: its totals are read at the end
  const std::string runs = job.path("runs.txt");
  Process& c1 = job.start_consumer(
      "c1", {"--handler", "exec:echo $CONVEYOR_TASK_ID >> " + runs + "; sleep 0.002; cat",
             "--concurrency", "4"});
  ASSERT_TRUE(job.wait_connected("c1")) << job.log("c1");
  const std::vector<std::string> flags = {"--source", "gen:400", "--window", "50", "--resume"};
  Process& first = job.start_producer("p1", flags);
  ASSERT_TRUE(wait_until(
      [&] {
        std::ifstream in(job.results_path("p1"));
        return std::count(std::istreambuf_iterator<char>(in), {}, '\n') >= 100;
      },
      30s))
      << job.log("p1");
  first.kill();
  Process& resumed = job.start(
      "p1-resumed", {CONVEYOR_PRODUCER_BIN, "--broker", job.frontend(), "--id", "p1", "--results",
                     job.results_path("p1"), "--quiet", "--source", "gen:400", "--window", "50",
                     "--resume", "--connect-timeout", "20s"});
  ASSERT_EQ(resumed.wait(60s), 0) << job.log("p1-resumed");
  const auto results = read_results(job.results_path("p1"));  // fails on a seq twice
  ASSERT_EQ(results.size(), 400u);
  for (const auto& [seq, r] : results) {
    EXPECT_EQ(r.at("status"), "ok") << r.dump();
    EXPECT_EQ(r.at("output"), producer::generated_payload(seq, std::nullopt));
  }
  std::map<std::string, int> executions;
  std::ifstream in(runs);
  for (std::string id; in >> id;)
    ++executions[id];
  int twice = 0;
  for (const auto& [id, n] : executions)
    twice += n > 1 ? 1 : 0;
  EXPECT_EQ(executions.size(), 400u);
  EXPECT_LE(twice, 50) << "at most --window tasks run again";
  const auto status = job.wait_status([](const auto& s) { return s.drained(); }, 20s);
  ASSERT_TRUE(status) << describe(job.status());
  EXPECT_EQ(status->totals().tasks(), 400u) << "the broker counts each task once";
  job.broker().signal(SIGTERM);
  EXPECT_EQ(job.broker().wait(20s), 0) << job.log("broker");
  EXPECT_EQ(c1.wait(20s), 0) << job.log("c1");
}

TEST(Lifecycle, ResumeRefusesStdinWithOneLine) {
  Cluster job;
  job.start_broker();
  write_file(job.path("p1.jsonl"), "");
  Process& p = job.start_producer("p1", {"--source", "lines:-", "--resume"});
  EXPECT_EQ(p.wait(20s), 2);
  EXPECT_NE(job.error_line("p1").find("--resume"), std::string::npos) << job.log("p1");
}

TEST(Lifecycle, ACommandThatIsNotFoundFailsEveryTaskAndTheProducerExitsThree) {
  Cluster job;
  job.start_broker({"--producers", "1", "--exit-when-drained"});
  Process& c1 = job.start_consumer("c1", {"--handler", "exec:nosuchcommand-conveyor"});
  ASSERT_TRUE(job.wait_connected("c1")) << job.log("c1");
  Process& p1 = job.start_producer("p1", {"--source", "gen:50"});
  ASSERT_EQ(p1.wait(30s), kSomeTasksFailed) << job.log("p1");
  EXPECT_NE(job.error_line("p1").find("50 tasks failed"), std::string::npos) << job.log("p1");
  const auto results = read_results(job.results_path("p1"));
  ASSERT_EQ(results.size(), 50u);
  EXPECT_NE(results.at(0).at("error").get<std::string>().find("exit status 127"),
            std::string::npos);
  EXPECT_EQ(c1.wait(20s), 0);
  EXPECT_EQ(job.broker().wait(20s), 0);
}

TEST(Lifecycle, AllowFailuresExitsZeroWhenTasksFailed) {
  Cluster job;
  job.start_broker({"--producers", "1", "--exit-when-drained"});
  job.start_consumer("c1", {"--handler", "exec:exit 1"});
  ASSERT_TRUE(job.wait_connected("c1")) << job.log("c1");
  Process& p1 = job.start_producer("p1", {"--source", "gen:5", "--allow-failures"});
  EXPECT_EQ(p1.wait(30s), 0) << job.log("p1");
}

// An idle consumer is ticked only at its link's deadlines (ClientSession::next_tick). It must still
// see its broker go silent, and once work comes, heartbeat through tasks longer than the broker's
// liveness window (5 x 200 ms here): a consumer silent for 1.5 s would be declared dead and its
// task given again, which `attempts` would show. (The window leaves a loaded machine room for a
// few hundred milliseconds' stall.)
TEST(Lifecycle, AnIdleConsumerNoticesALostBrokerAndHeartbeatsThroughLongTasksForTheNext) {
  Cluster job;
  const std::vector<std::string> beat = {
      "--producers", "1", "--exit-when-drained", "--heartbeat", "200ms", "--liveness", "5"};
  job.start_broker(beat);
  const int port = free_port();
  std::vector<std::string> flags = metrics_flags(port);
  for (const char* flag : {"--handler", "sleep:1500", "--concurrency", "1", "--prefetch", "0"})
    flags.emplace_back(flag);
  Process& c1 = job.start_consumer("c1", flags);
  const std::string connected = "conveyor_consumer_connected";
  ASSERT_TRUE(wait_until([&] { return scrape(port, connected) == 1.0; }, 10s)) << job.log("c1");

  job.broker().signal(SIGKILL);
  ASSERT_TRUE(job.broker().wait(5s).has_value());
  ASSERT_TRUE(wait_until([&] { return scrape(port, connected) == 0.0; }, 5s))
      << "the idle consumer did not notice its broker gone: " << job.log("c1");

  // The next broker on the same ports: the consumer finds it by itself.
  std::vector<std::string> argv = {
      CONVEYOR_BROKER_BIN, "--frontend", job.frontend(), "--backend", job.backend(), "--admin", ""};
  argv.insert(argv.end(), beat.begin(), beat.end());
  Process& next = job.start("broker-next", argv);
  ASSERT_TRUE(wait_until([&] { return scrape(port, connected) == 1.0; }, 10s))
      << job.log("c1") << job.log("broker-next");
  Process& p1 = job.start_producer("p1", {"--source", "gen:2"});
  ASSERT_EQ(p1.wait(30s), 0) << job.log("p1");
  const auto results = read_results(job.results_path("p1"));
  ASSERT_EQ(results.size(), 2u);
  for (const auto& [seq, r] : results) {
    EXPECT_EQ(r.at("status"), "ok") << r.dump();
    EXPECT_EQ(r.at("attempts"), 1) << "declared dead while it ran a task: " << r.dump();
  }
  EXPECT_EQ(next.wait(20s), 0) << job.log("broker-next");
  EXPECT_EQ(c1.wait(20s), 0) << job.log("c1");
}

}  // namespace
}  // namespace conveyor::testing
