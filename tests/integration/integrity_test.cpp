// DESIGN.md §7.1 with the real executables: what a hostile or careless peer can no longer do.
// Each run ends with every real result exact, nothing forged written, and every legitimate
// process exiting 0; a refused duplicate or key exits 1 with one line within --connect-timeout.
#include <gtest/gtest.h>

#include <chrono>

#include "conveyor/producer/source.hpp"
#include "support/cluster.hpp"

namespace conveyor::testing {
namespace {

using Clock = std::chrono::steady_clock;

// Every seq 0..count-1 once, ok, with its generated payload echoed back by `consumer`.
void expect_echoed(const std::string& path, std::uint64_t count, const std::string& consumer) {
  const auto results = read_results(path);
  ASSERT_EQ(results.size(), count) << path;
  for (std::uint64_t seq = 0; seq < count; ++seq) {
    ASSERT_TRUE(results.contains(seq)) << "seq " << seq << " missing";
    const auto& r = results.at(seq);
    EXPECT_EQ(r.at("status"), "ok") << r.dump();
    EXPECT_EQ(r.at("output"), producer::generated_payload(seq, std::nullopt)) << r.dump();
    EXPECT_EQ(r.at("consumer"), consumer) << r.dump();
  }
}

TEST(Integrity, ForgedResultsAreNeverWrittenAndTheRealOnesAre) {
  Cluster job;
  job.start_broker({"--producers", "1", "--exit-when-drained"});
  Process& forger = job.start("forger", {CONVEYOR_TEST_PEER_BIN, "forge", "--broker", job.backend(),
                                         "--producer", "p1", "--tasks", "200", "--for", "4s"});
  ASSERT_TRUE(job.wait_connected("rogue")) << job.log("forger");
  Process& c1 = job.start_consumer("c1", {"--handler", "sleep:5", "--concurrency", "4"});
  ASSERT_TRUE(job.wait_connected("c1")) << job.log("c1");
  Process& p1 = job.start_producer("p1", {"--source", "gen:200"});
  ASSERT_EQ(p1.wait(60s), 0) << job.log("p1");
  expect_echoed(job.results_path("p1"), 200, "c1");
  EXPECT_EQ(forger.wait(20s), 0) << job.log("forger");
  EXPECT_EQ(c1.wait(20s), 0) << job.log("c1");
  EXPECT_EQ(job.broker().wait(20s), 0) << job.log("broker");
}

TEST(Integrity, ASecondProducerWithTheSameIdExitsOneNamingItAndTheFirstCompletes) {
  Cluster job;
  job.start_broker({"--producers", "1", "--exit-when-drained"});
  Process& c1 = job.start_consumer("c1", {"--handler", "sleep:10", "--concurrency", "2"});
  ASSERT_TRUE(job.wait_connected("c1")) << job.log("c1");
  Process& first = job.start_producer("p1", {"--source", "gen:1000"});
  ASSERT_TRUE(job.wait_status(
      [](const auto& s) {
        const auto* p = find_producer(s, "p1");
        return p != nullptr && p->connected() && p->sent() > 0;
      },
      10s))
      << describe(job.status());
  const auto started = Clock::now();
  Process& second = job.start(
      "p1-again", {CONVEYOR_PRODUCER_BIN, "--broker", job.frontend(), "--id", "p1", "--results",
                   job.path("again.jsonl"), "--source", "gen:1000", "--connect-timeout", "2s"});
  EXPECT_EQ(second.wait(20s), 1) << job.log("p1-again");
  EXPECT_LT(Clock::now() - started, 10s) << "within --connect-timeout, give or take a start";
  EXPECT_NE(job.error_line("p1-again").find("--id p1"), std::string::npos) << job.log("p1-again");
  ASSERT_TRUE(first.running()) << "the refused one changed nothing for the first";
  ASSERT_EQ(first.wait(60s), 0) << job.log("p1");
  expect_echoed(job.results_path("p1"), 1000, "c1");
  EXPECT_EQ(c1.wait(20s), 0) << job.log("c1");
  EXPECT_EQ(job.broker().wait(20s), 0) << job.log("broker");
}

TEST(Integrity, AProducerKilledAndRestartedAtOnceWithItsIdCompletes) {
  Cluster job;
  job.start_broker({"--producers", "1", "--exit-when-drained"});
  Process& c1 = job.start_consumer("c1", {"--handler", "sleep:2", "--concurrency", "4"});
  ASSERT_TRUE(job.wait_connected("c1")) << job.log("c1");
  Process& crashed = job.start_producer("p1", {"--source", "gen:1500"});
  ASSERT_TRUE(job.wait_status(
      [](const auto& s) {
        const auto* p = find_producer(s, "p1");
        return p != nullptr && p->received() > 100;
      },
      20s))
      << describe(job.status());
  crashed.kill();  // SIGKILL: its session is alive in the broker until its heartbeats stop
  Process& restarted =
      job.start("p1-restarted", {CONVEYOR_PRODUCER_BIN, "--broker", job.frontend(), "--id", "p1",
                                 "--results", job.path("restarted.jsonl"), "--quiet", "--source",
                                 "gen:1500", "--connect-timeout", "20s"});
  ASSERT_EQ(restarted.wait(60s), 0) << job.log("p1-restarted");
  expect_echoed(job.path("restarted.jsonl"), 1500, "c1");
  EXPECT_EQ(c1.wait(20s), 0) << job.log("c1");
  EXPECT_EQ(job.broker().wait(20s), 0) << job.log("broker");
}

TEST(Integrity, AGhostProducerDoesNotHoldTheRunOpen) {
  Cluster job;
  job.start_broker({"--producers", "1", "--exit-when-drained"});
  Process& c1 = job.start_consumer("c1", {"--handler", "echo"});
  ASSERT_TRUE(job.wait_connected("c1")) << job.log("c1");
  Process& ghost = job.start(
      "ghost", {CONVEYOR_TEST_PEER_BIN, "ghost", "--broker", job.frontend(), "--id", "g"});
  ASSERT_EQ(ghost.wait(10s), 0) << job.log("ghost");
  Process& p1 = job.start_producer("p1", {"--source", "gen:100"});
  ASSERT_EQ(p1.wait(30s), 0) << job.log("p1");
  expect_echoed(job.results_path("p1"), 100, "c1");
  // The ghost's session ends when its heartbeats stop (3 s): then the run is drained.
  EXPECT_EQ(job.broker().wait(20s), 0) << job.log("broker");
  EXPECT_EQ(c1.wait(20s), 0) << job.log("c1");
}

TEST(Integrity, AResultOverTheBrokersLimitFailsItsTaskAndTheRunEnds) {
  Cluster job;
  job.start_broker({"--producers", "1", "--exit-when-drained", "--max-message-bytes", "1048576",
                    "--max-payload-bytes", "65536"});
  Process& c1 = job.start_consumer("c1", {"--handler", "exec:head -c 2000000 /dev/zero"});
  ASSERT_TRUE(job.wait_connected("c1")) << job.log("c1");
  Process& p1 = job.start_producer("p1", {"--source", "gen:3"});
  ASSERT_EQ(p1.wait(30s), kSomeTasksFailed) << job.log("p1");
  const auto results = read_results(job.results_path("p1"));
  ASSERT_EQ(results.size(), 3u);
  for (const auto& [seq, r] : results) {
    EXPECT_EQ(r.at("status"), "failed") << r.dump();
    EXPECT_NE(r.at("error").get<std::string>().find("over the broker's --max-message-bytes"),
              std::string::npos)
        << r.dump();
  }
  EXPECT_EQ(c1.wait(20s), 0) << job.log("c1");
  EXPECT_EQ(job.broker().wait(20s), 0) << job.log("broker");
}

}  // namespace
}  // namespace conveyor::testing
