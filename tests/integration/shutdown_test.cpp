// Orderly shutdown across processes: SIGTERM as a local pill, a second signal as stop-now, late
// joiners, and the broker's own stop.
#include <gtest/gtest.h>

#include <algorithm>
#include <csignal>
#include <fstream>
#include <iterator>
#include <set>

#include <unistd.h>

#include "support/cluster.hpp"

namespace conveyor::testing {
namespace {

bool has_results(const Cluster& job, const std::string& producer, std::size_t at_least) {
  std::ifstream in(job.results_path(producer));
  return static_cast<std::size_t>(std::count(std::istreambuf_iterator<char>(in),
                                             std::istreambuf_iterator<char>(), '\n')) >= at_least;
}

void expect_all_ok_once(const Cluster& job, const std::string& producer, std::uint64_t count) {
  const auto results = read_results(job.results_path(producer));
  ASSERT_EQ(results.size(), count);
  for (const auto& [seq, r] : results)
    EXPECT_EQ(r.at("status"), "ok") << r.dump();
}

TEST(Shutdown, SigtermOnABusyConsumerDrainsItAndTheOthersFinishTheJob) {
  Cluster job;
  job.start_broker({"--producers", "1", "--exit-when-drained"});
  Process& c1 =
      job.start_consumer("c1", {"--handler", "sleep:20", "--concurrency", "2", "--prefetch", "4"});
  Process& c2 = job.start_consumer("c2", {"--handler", "sleep:20", "--concurrency", "2"});
  Process& p = job.start_producer("p1", {"--source", "gen:300"});
  ASSERT_TRUE(wait_until([&] { return has_results(job, "p1", 20); }, 30s));
  c1.signal(SIGTERM);
  EXPECT_EQ(c1.wait(10s), 0) << job.log("c1");  // finishes its running tasks, then exits 0
  EXPECT_EQ(p.wait(60s), 0) << job.log("p1");
  EXPECT_EQ(c2.wait(20s), 0) << job.log("c2");
  EXPECT_EQ(job.broker().wait(20s), 0);
  expect_all_ok_once(job, "p1", 300);
  EXPECT_NE(job.log("c1").find("SIGTERM: finishing running tasks"), std::string::npos);
  EXPECT_NE(job.log("broker").find("consumer c1 said goodbye (stopped by signal)"),
            std::string::npos)
      << job.log("broker");
}

TEST(Shutdown, SecondSignalStopsAConsumerAtOnceAndTheBrokerRequeuesItsTask) {
  Cluster job;
  job.start_broker({"--producers", "1", "--exit-when-drained"});
  // The handler leaves a mark once it runs: the signals must find the task started, not queued.
  const std::string started = job.path("started");
  Process& stuck =
      job.start_consumer("c1", {"--handler", "exec:touch " + started + "; sleep 30; cat",
                                "--concurrency", "1", "--prefetch", "1"});
  Process& p = job.start_producer("p1", {"--source", "gen:1"});
  ASSERT_TRUE(wait_until([&] { return ::access(started.c_str(), F_OK) == 0; }, 10s))
      << job.log("c1");
  stuck.signal(SIGTERM);
  ASSERT_TRUE(wait_until(
      [&] { return job.log("c1").find("finishing running tasks") != std::string::npos; }, 10s));
  stuck.signal(SIGTERM);
  EXPECT_EQ(stuck.wait(5s), 128 + SIGTERM) << job.log("c1");
  // The task it held goes to the next consumer, as a second attempt.
  job.start_consumer("c2", {"--handler", "echo"});
  ASSERT_EQ(p.wait(30s), 0) << job.log("p1");
  const auto results = read_results(job.results_path("p1"));
  ASSERT_EQ(results.size(), 1u);
  EXPECT_EQ(results.at(0).at("consumer"), "c2");
  EXPECT_EQ(results.at(0).at("attempts"), 2);
}

TEST(Shutdown, ALateConsumerGetsWorkAtOnce) {
  Cluster job;
  job.start_broker({"--producers", "1", "--exit-when-drained"});
  job.start_consumer("slow", {"--handler", "sleep:50", "--concurrency", "1", "--prefetch", "1"});
  Process& p = job.start_producer("p1", {"--source", "gen:100"});
  ASSERT_TRUE(wait_until([&] { return has_results(job, "p1", 2); }, 20s));
  job.start_consumer("late", {"--handler", "echo"});
  ASSERT_EQ(p.wait(30s), 0) << job.log("p1");
  const auto results = read_results(job.results_path("p1"));
  ASSERT_EQ(results.size(), 100u);
  std::size_t by_late = 0;
  for (const auto& [seq, r] : results)
    by_late += r.at("consumer") == "late" ? 1 : 0;
  EXPECT_GT(by_late, 50u) << "the late consumer should take most of the backlog at once";
}

TEST(Shutdown, AConsumerJoiningAfterTheDrainGetsAPillAtOnce) {
  Cluster job;
  job.start_broker({"--producers", "1"});  // keeps serving after the drain
  job.start_consumer("c1", {"--handler", "echo"});
  Process& p = job.start_producer("p1", {"--source", "gen:10"});
  ASSERT_EQ(p.wait(30s), 0);
  ASSERT_TRUE(wait_until(
      [&] { return job.log("broker").find("drained: 10 tasks") != std::string::npos; }, 10s));
  Process& late = job.start_consumer("late", {"--handler", "echo"});
  EXPECT_EQ(late.wait(10s), 0) << job.log("late");
  EXPECT_NE(job.log("late").find("pill received"), std::string::npos);
  EXPECT_TRUE(job.broker().running());
}

TEST(Shutdown, SigtermOnTheBrokerFinishesHeldTasksThenPillsConsumers) {
  Cluster job;
  job.start_broker({"--queue-capacity", "50"});
  Process& c1 = job.start_consumer("c1", {"--handler", "sleep:5", "--concurrency", "4"});
  job.start_producer("p1", {"--source", "gen:100000", "--reconnect-timeout", "2s"});
  ASSERT_TRUE(wait_until([&] { return has_results(job, "p1", 10); }, 20s));
  job.broker().signal(SIGTERM);
  EXPECT_EQ(job.broker().wait(30s), 0) << job.log("broker");
  EXPECT_EQ(c1.wait(10s), 0) << job.log("c1");
  EXPECT_NE(job.log("broker").find("stopping: no new tasks"), std::string::npos);
  // What the broker held was finished: every result written is ok.
  for (const auto& [seq, r] : read_results(job.results_path("p1"))) {
    EXPECT_EQ(r.at("status"), "ok");
  }
}

TEST(Shutdown, SigtermOnAProducerStopsReadingSendsThePillAndWaitsForResults) {
  Cluster job;
  job.start_broker({"--producers", "1", "--exit-when-drained"});
  job.start_consumer("c1", {"--handler", "sleep:10", "--concurrency", "2"});
  Process& p = job.start_producer("p1", {"--source", "gen:1000000", "--window", "50"});
  ASSERT_TRUE(wait_until([&] { return has_results(job, "p1", 5); }, 20s));
  p.signal(SIGTERM);
  EXPECT_EQ(p.wait(30s), 0) << job.log("p1");
  EXPECT_EQ(job.broker().wait(20s), 0) << job.log("broker");
  const auto results = read_results(job.results_path("p1"));
  ASSERT_GT(results.size(), 0u);
  ASSERT_LT(results.size(), 1000000u);
  // Exactly the tasks read before the signal, 0..n-1, each with a final result.
  EXPECT_EQ(results.rbegin()->first + 1, results.size());
  EXPECT_NE(job.log("p1").find("no more reading from the source"), std::string::npos);
}

// --service: a run's drain leaves the consumers connected for the next producers, including a new
// process under an id already seen; SIGTERM on the broker then pills them and all exit 0.
TEST(Shutdown, ServiceBrokerKeepsConsumersAcrossRunsAndPillsThemOnSigterm) {
  Cluster job;
  job.start_broker({"--service"});
  Process& c1 = job.start_consumer("c1", {"--handler", "echo", "--concurrency", "2"});
  Process& c2 = job.start_consumer("c2", {"--handler", "echo", "--concurrency", "2"});
  Process& first = job.start_producer("p1", {"--source", "gen:200"});
  ASSERT_EQ(first.wait(30s), 0) << job.log("p1");
  expect_all_ok_once(job, "p1", 200);
  ASSERT_TRUE(wait_until(
      [&] {
        return job.log("broker").find("consumers stay for the next run") != std::string::npos;
      },
      10s))
      << job.log("broker");

  // The same producer id again, as a new process: a new run on the same two consumers.
  const std::string second_results = job.path("p1-second.jsonl");
  Process& second =
      job.start("p1-second", {CONVEYOR_PRODUCER_BIN, "--broker", job.frontend(), "--id", "p1",
                              "--results", second_results, "--quiet", "--source", "gen:300"});
  ASSERT_EQ(second.wait(30s), 0) << job.log("p1-second") << job.log("broker");
  const auto results = read_results(second_results);
  ASSERT_EQ(results.size(), 300u);
  std::set<std::string> consumers;
  for (const auto& [seq, r] : results) {
    EXPECT_EQ(r.at("status"), "ok");
    consumers.insert(r.at("consumer").get<std::string>());
  }
  EXPECT_EQ(consumers, (std::set<std::string>{"c1", "c2"})) << "both stayed for the second run";

  job.broker().signal(SIGTERM);
  EXPECT_EQ(job.broker().wait(20s), 0) << job.log("broker");
  EXPECT_EQ(c1.wait(20s), 0) << job.log("c1");
  EXPECT_EQ(c2.wait(20s), 0) << job.log("c2");
}

}  // namespace
}  // namespace conveyor::testing
