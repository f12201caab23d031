// Orderly shutdown across processes: SIGTERM as a local pill, a second signal as stop-now, late
// joiners, and the broker's own stop.
#include <gtest/gtest.h>

#include <algorithm>
#include <csignal>
#include <fstream>
#include <iterator>

#include <unistd.h>

#include "support/cluster.hpp"
#include "support/http.hpp"

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

// A consumer's --metrics-port and handler flags.
std::vector<std::string> consumer_flags(int metrics_port, std::vector<std::string> more) {
  std::vector<std::string> flags = metrics_flags(metrics_port);
  flags.insert(flags.end(), more.begin(), more.end());
  return flags;
}

TEST(Shutdown, SigtermOnABusyConsumerDrainsItAndTheOthersFinishTheJob) {
  Cluster job;
  job.start_broker({"--producers", "1"});  // asked after the job, then stopped
  // c1's tasks wait for a gate file: the test sees c1 stopping before it may finish them.
  const std::string gate = job.path("gate");
  const int c1_port = free_port();
  Process& c1 = job.start_consumer(
      "c1", consumer_flags(
                c1_port, {"--handler", "exec:while [ ! -e " + gate + " ]; do sleep 0.01; done; cat",
                          "--concurrency", "2", "--prefetch", "4"}));
  Process& c2 = job.start_consumer("c2", {"--handler", "sleep:10", "--concurrency", "2"});
  Process& p = job.start_producer("p1", {"--source", "gen:600"});
  // c1 holds all it may: 2 tasks running, 4 waiting.
  ASSERT_TRUE(wait_until(
      [&] {
        return scrape(c1_port, "conveyor_consumer_tasks_running") == 2.0 &&
               scrape(c1_port, "conveyor_consumer_tasks_prefetched") == 4.0;
      },
      20s))
      << http_get(c1_port, "/metrics").value_or("no metrics");
  c1.signal(SIGTERM);
  // It hands the 4 unstarted tasks back and the broker sends it nothing more...
  EXPECT_TRUE(wait_until(
      [&] {
        return scrape(c1_port, "conveyor_consumer_stopping") == 1.0 &&
               scrape(c1_port, "conveyor_consumer_tasks_handed_back_total") == 4.0;
      },
      10s))
      << http_get(c1_port, "/metrics").value_or("no metrics");
  const auto handed_back = [](const wire::StatusReply& s) {
    const auto* c = find_consumer(s, "c1");
    return c != nullptr && c->capacity() == 0 && c->in_flight() == 2;
  };
  EXPECT_TRUE(job.wait_status(handed_back, 10s)) << describe(job.status());
  // ...but finishes its running tasks before it exits 0, saying goodbye: the broker drops its
  // session while c2 works on.
  EXPECT_TRUE(c1.running());
  write_file(gate, "");
  EXPECT_EQ(c1.wait(10s), 0) << job.log("c1");
  const auto c1_gone = [](const wire::StatusReply& s) {
    return find_consumer(s, "c1") == nullptr && find_consumer(s, "c2") != nullptr;
  };
  EXPECT_TRUE(job.wait_status(c1_gone, 10s)) << describe(job.status());

  EXPECT_EQ(p.wait(60s), 0) << job.log("p1");
  EXPECT_EQ(c2.wait(20s), 0) << job.log("c2");
  const auto end = job.wait_status([](const auto& s) { return s.drained(); }, 10s);
  ASSERT_TRUE(end) << describe(job.status());
  EXPECT_EQ(end->totals().redelivered(), 0u) << "nothing c1 held was lost: " << describe(end);
  job.broker().signal(SIGTERM);
  EXPECT_EQ(job.broker().wait(20s), 0) << job.log("broker");
  expect_all_ok_once(job, "p1", 600);
  std::size_t by_c1 = 0;
  for (const auto& [seq, r] : read_results(job.results_path("p1"))) {
    EXPECT_EQ(r.at("attempts"), 1) << r.dump();
    by_c1 += r.at("consumer") == "c1" ? 1 : 0;
  }
  EXPECT_EQ(by_c1, 2u) << "c1 finished the two tasks it was running, and only those";
}

TEST(Shutdown, SecondSignalStopsAConsumerAtOnceAndTheBrokerRequeuesItsTask) {
  Cluster job;
  job.start_broker({"--producers", "1", "--exit-when-drained"});
  // The handler leaves a mark once it runs: the signals must find the task started, not queued.
  const std::string started = job.path("started");
  const int c1_port = free_port();
  Process& stuck = job.start_consumer(
      "c1", consumer_flags(c1_port, {"--handler", "exec:touch " + started + "; sleep 30; cat",
                                     "--concurrency", "1", "--prefetch", "1"}));
  Process& p = job.start_producer("p1", {"--source", "gen:1"});
  ASSERT_TRUE(wait_until([&] { return ::access(started.c_str(), F_OK) == 0; }, 10s))
      << job.log("c1");
  stuck.signal(SIGTERM);
  // The first signal is handled (the consumer is stopping) before the second is sent.
  ASSERT_TRUE(wait_until([&] { return scrape(c1_port, "conveyor_consumer_stopping") == 1.0; }, 10s))
      << http_get(c1_port, "/metrics").value_or("no metrics");
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
  const auto drained = [](const wire::StatusReply& s) {
    return s.drained() && s.totals().tasks() == 10;
  };
  ASSERT_TRUE(job.wait_status(drained, 10s)) << describe(job.status());
  // Nobody signals it: a consumer exits 0 only on its pill.
  Process& late = job.start_consumer("late", {"--handler", "echo"});
  EXPECT_EQ(late.wait(10s), 0) << job.log("late");
  EXPECT_TRUE(job.broker().running());
  const auto left = [](const wire::StatusReply& s) { return find_consumer(s, "late") == nullptr; };
  EXPECT_TRUE(job.wait_status(left, 10s)) << describe(job.status());
}

TEST(Shutdown, SigtermOnTheBrokerFinishesHeldTasksThenPillsConsumers) {
  Cluster job;
  job.start_broker({"--queue-capacity", "50"});
  // Slow tasks: finishing what the broker holds takes a second or so, long enough to ask it.
  Process& c1 = job.start_consumer("c1", {"--handler", "sleep:100", "--concurrency", "4"});
  job.start_producer("p1", {"--source", "gen:100000", "--reconnect-timeout", "2s"});
  ASSERT_TRUE(wait_until([&] { return has_results(job, "p1", 10); }, 20s));
  job.broker().signal(SIGTERM);
  const auto stopping = job.wait_status([](const auto& s) { return s.stopping(); }, 10s);
  ASSERT_TRUE(stopping) << describe(job.status());
  const auto* p1 = find_producer(*stopping, "p1");
  ASSERT_NE(p1, nullptr) << describe(stopping);
  const std::uint64_t accepted = p1->sent();  // no new tasks once stopping
  EXPECT_EQ(job.broker().wait(30s), 0) << job.log("broker");
  EXPECT_EQ(c1.wait(10s), 0) << job.log("c1");
  // What the broker held was finished and reported: one ok result per task it accepted.
  const auto results = read_results(job.results_path("p1"));
  EXPECT_EQ(results.size(), accepted);
  for (const auto& [seq, r] : results) {
    EXPECT_EQ(r.at("status"), "ok");
  }
}

TEST(Shutdown, SigtermOnAProducerStopsReadingSendsThePillAndWaitsForResults) {
  Cluster job;
  job.start_broker({"--producers", "1", "--exit-when-drained"});
  // Slow tasks: the producer waits a second or so for its results, long enough to ask it.
  job.start_consumer("c1", {"--handler", "sleep:50", "--concurrency", "2"});
  const int p1_port = free_port();
  std::vector<std::string> flags = metrics_flags(p1_port);
  flags.insert(flags.end(), {"--source", "gen:1000000", "--window", "50"});
  Process& p = job.start_producer("p1", flags);
  ASSERT_TRUE(wait_until([&] { return has_results(job, "p1", 5); }, 20s));
  p.signal(SIGTERM);
  // It stops reading: the source is over, and the count of tasks read is final.
  std::optional<double> read;
  ASSERT_TRUE(wait_until(
      [&] {
        const auto body = http_get(p1_port, "/metrics").value_or("");
        read = metric_value(body, "conveyor_producer_tasks_read_total");
        return metric_value(body, "conveyor_producer_source_ended") == 1.0;
      },
      10s))
      << http_get(p1_port, "/metrics").value_or("no metrics");
  EXPECT_EQ(p.wait(30s), 0) << job.log("p1");
  EXPECT_EQ(job.broker().wait(20s), 0) << job.log("broker");
  const auto results = read_results(job.results_path("p1"));
  ASSERT_GT(results.size(), 0u);
  ASSERT_LT(results.size(), 1000000u);
  // Exactly the tasks read before the signal, 0..n-1, each with a final result.
  EXPECT_EQ(results.rbegin()->first + 1, results.size());
  EXPECT_EQ(static_cast<double>(results.size()), read.value_or(-1));
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
  // The run drained and both consumers are still there for the next one.
  const auto stayed = [](const wire::StatusReply& s) {
    return s.drained() && s.totals().tasks() == 200 && find_consumer(s, "c1") != nullptr &&
           find_consumer(s, "c2") != nullptr;
  };
  ASSERT_TRUE(job.wait_status(stayed, 10s)) << describe(job.status());

  // The same producer id again, as a new process: a new run on the same two consumers.
  const std::string second_results = job.path("p1-second.jsonl");
  Process& second =
      job.start("p1-second", {CONVEYOR_PRODUCER_BIN, "--broker", job.frontend(), "--id", "p1",
                              "--results", second_results, "--quiet", "--source", "gen:300"});
  ASSERT_EQ(second.wait(30s), 0) << job.log("p1-second") << job.log("broker");
  const auto results = read_results(second_results);
  ASSERT_EQ(results.size(), 300u);
  for (const auto& [seq, r] : results) {
    EXPECT_EQ(r.at("status"), "ok");
    EXPECT_TRUE(r.at("consumer") == "c1" || r.at("consumer") == "c2") << r.dump();
  }
  // Which of the two did the work is the broker's choice (a consumer that just reported is
  // refilled first): that both are still there is what the run must leave. Totals span both runs.
  const auto both_stayed = [](const wire::StatusReply& s) {
    return s.drained() && s.totals().tasks() == 500 && find_consumer(s, "c1") != nullptr &&
           find_consumer(s, "c2") != nullptr;
  };
  ASSERT_TRUE(job.wait_status(both_stayed, 10s)) << describe(job.status());
  EXPECT_TRUE(c1.running() && c2.running()) << "no pill yet: they wait for the next run";

  job.broker().signal(SIGTERM);
  EXPECT_EQ(job.broker().wait(20s), 0) << job.log("broker");
  EXPECT_EQ(c1.wait(20s), 0) << job.log("c1");
  EXPECT_EQ(c2.wait(20s), 0) << job.log("c2");
}

}  // namespace
}  // namespace conveyor::testing
