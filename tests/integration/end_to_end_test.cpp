// Whole jobs on loopback with the real executables, checked task by task against the results.
#include <gtest/gtest.h>

#include <csignal>
#include <functional>
#include <set>

#include "conveyor/consumer/handlers.hpp"
#include "conveyor/producer/source.hpp"
#include "support/cluster.hpp"

namespace conveyor::testing {
namespace {

// Every seq 0..count-1 once, ok, with the sha256 of its payload, from one of `consumers`.
void expect_sha256_results(const std::string& path, const std::string& producer,
                           std::uint64_t count,
                           const std::function<std::string(std::uint64_t)>& payload,
                           const std::set<std::string>& consumers) {
  const auto results = read_results(path);
  ASSERT_EQ(results.size(), count) << path;
  for (std::uint64_t seq = 0; seq < count; ++seq) {
    ASSERT_TRUE(results.contains(seq)) << producer << " seq " << seq << " missing";
    const auto& r = results.at(seq);
    EXPECT_EQ(r.at("id"), producer + ":" + std::to_string(seq));
    EXPECT_EQ(r.at("status"), "ok") << r.dump();
    EXPECT_EQ(r.at("output"), consumer::sha256_hex(payload(seq))) << r.dump();
    EXPECT_TRUE(consumers.contains(r.at("consumer").get<std::string>())) << r.dump();
    EXPECT_GE(r.at("attempts").get<int>(), 1);
  }
}

TEST(EndToEnd, SeveralProducersAndConsumersGetEveryTaskDoneOnce) {
  Cluster job;
  // No --exit-when-drained: the broker's totals are read after the run, then it is stopped.
  job.start_broker({"--producers", "2", "--queue-capacity", "500"});
  std::vector<Process*> consumers;
  for (const char* id : {"c1", "c2", "c3"}) {
    consumers.push_back(&job.start_consumer(id, {"--handler", "sha256", "--concurrency", "2"}));
  }
  for (const char* id : {"c1", "c2", "c3"})
    ASSERT_TRUE(job.wait_connected(id)) << job.log(id);
  std::string lines;
  for (int i = 0; i < 1500; ++i)
    lines += "line " + std::to_string(i) + " \"quoted\" \\ é\n";
  write_file(job.path("input.txt"), lines);
  Process& p1 = job.start_producer("p1", {"--source", "gen:3000:48"});
  Process& p2 = job.start_producer("p2", {"--source", "lines:" + job.path("input.txt")});

  EXPECT_EQ(p1.wait(60s), 0) << job.log("p1");
  EXPECT_EQ(p2.wait(60s), 0) << job.log("p2");
  const auto status = job.wait_status([](const auto& s) { return s.drained(); }, 20s);
  ASSERT_TRUE(status) << describe(job.status());
  EXPECT_EQ(status->totals().tasks(), 4500u) << describe(status);
  EXPECT_EQ(status->totals().ok(), 4500u);
  EXPECT_EQ(status->totals().failed(), 0u);
  EXPECT_EQ(status->totals().dead(), 0u);
  for (Process* c : consumers)
    EXPECT_EQ(c->wait(20s), 0) << "pilled at the drain: " << job.log(c->name());
  job.broker().signal(SIGTERM);
  EXPECT_EQ(job.broker().wait(20s), 0) << job.log("broker");
  expect_sha256_results(job.results_path("p1"), "p1", 3000,
                        [](std::uint64_t s) { return producer::generated_payload(s, 48); },
                        {"c1", "c2", "c3"});
  expect_sha256_results(
      job.results_path("p2"), "p2", 1500,
      [](std::uint64_t s) { return "line " + std::to_string(s) + " \"quoted\" \\ é"; },
      {"c1", "c2", "c3"});
}

TEST(EndToEnd, EveryConsumerExitsZeroThroughThePill) {
  Cluster job;
  job.start_broker({"--producers", "1", "--exit-when-drained"});
  std::vector<Process*> consumers;
  for (const char* id : {"c1", "c2"}) {
    consumers.push_back(&job.start_consumer(id, {"--handler", "echo", "--concurrency", "2"}));
  }
  for (const char* id : {"c1", "c2"})
    ASSERT_TRUE(job.wait_connected(id)) << job.log(id);
  Process& p1 = job.start_producer("p1", {"--source", "gen:500"});
  EXPECT_EQ(p1.wait(30s), 0) << job.log("p1");
  // Nobody signals the consumers: exiting 0 is their pill having come (a lost broker would be 1).
  for (Process* c : consumers)
    EXPECT_EQ(c->wait(20s), 0) << job.log(c->name());
  EXPECT_EQ(job.broker().wait(20s), 0);
  EXPECT_EQ(read_results(job.results_path("p1")).size(), 500u);
}

TEST(EndToEnd, StdinSourceAndStdoutResults) {
  Cluster job;
  job.start_broker({"--exit-when-drained"});
  job.start_consumer("c1", {"--handler", "echo", "--concurrency", "1"});
  write_file(job.path("stdin.txt"), "alpha\nbeta\r\n\ngamma");
  Process& p = job.start("p1",
                         {CONVEYOR_PRODUCER_BIN, "--broker", job.frontend(), "--id", "p1",
                          "--source", "lines:-", "--results", "-", "--quiet"},
                         {}, job.path("stdin.txt"));
  ASSERT_EQ(p.wait(30s), 0) << job.log("p1");
  const auto results = read_results(job.path("p1.out"));
  ASSERT_EQ(results.size(), 4u);
  EXPECT_EQ(results.at(0).at("output"), "alpha");
  EXPECT_EQ(results.at(1).at("output"), "beta");
  EXPECT_EQ(results.at(2).at("output"), "");
  EXPECT_EQ(results.at(3).at("output"), "gamma");
}

TEST(EndToEnd, FailingCommandsAreReportedAndTheConsumerGoesOn) {
  Cluster job;
  job.start_broker({"--exit-when-drained"});
  // Payloads that are odd numbers make the command fail with a message on stderr.
  job.start_consumer("c1", {"--handler",
                            "exec:read n; if [ $((n % 2)) -eq 1 ]; then echo \"odd $n\" >&2; "
                            "exit 3; fi; echo \"even $n\"",
                            "--concurrency", "2"});
  Process& p = job.start_producer("p1", {"--source", "gen:40"});
  ASSERT_EQ(p.wait(60s), kSomeTasksFailed) << job.log("p1");
  const auto results = read_results(job.results_path("p1"));
  ASSERT_EQ(results.size(), 40u);
  for (const auto& [seq, r] : results) {
    if (seq % 2 == 1) {
      EXPECT_EQ(r.at("status"), "failed");
      EXPECT_EQ(r.at("error"), "exit status 3: odd " + std::to_string(seq));
    } else {
      EXPECT_EQ(r.at("status"), "ok");
      EXPECT_EQ(r.at("output"), "even " + std::to_string(seq) + "\n");
    }
  }
  EXPECT_NE(p.wait(0ms), std::nullopt);
}

TEST(EndToEnd, BinaryOutputIsBase64InTheResultsFile) {
  Cluster job;
  job.start_broker({"--exit-when-drained"});
  job.start_consumer("c1", {"--handler", "exec:printf '\\377\\000\\001'"});
  Process& p = job.start_producer("p1", {"--source", "gen:3"});
  ASSERT_EQ(p.wait(30s), 0) << job.log("p1");
  const auto results = read_results(job.results_path("p1"));
  ASSERT_EQ(results.size(), 3u);
  for (const auto& [seq, r] : results) {
    EXPECT_EQ(r.at("encoding"), "base64");
    EXPECT_EQ(r.at("output"), "/wAB");
  }
}

}  // namespace
}  // namespace conveyor::testing
