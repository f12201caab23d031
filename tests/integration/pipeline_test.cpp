// Named queues and pipelines with the real executables (DESIGN.md §7.4): the two examples of the
// README (a two-stage pipeline of Python workers and a crawler over a generated tree of pages),
// stages pilled in order, a fan-out larger than the queue's capacity, a stage-one consumer killed
// mid-run, and --max-queues.
#include <gtest/gtest.h>

#include <csignal>
#include <filesystem>
#include <fstream>
#include <set>

#include <nlohmann/json.hpp>

#include "support/cluster.hpp"

namespace conveyor::testing {
namespace {

const std::string kSource = CONVEYOR_SOURCE_DIR;
const std::string kExamples = kSource + "/examples/python";
const std::map<std::string, std::string> kPython = {{"PYTHONPATH", kSource + "/clients/python"}};

Process& start_stage(Cluster& job, const std::string& id, const std::string& queue,
                     const std::string& emit_to, const std::string& handler,
                     std::vector<std::string> flags = {}) {
  std::vector<std::string> argv = {
      CONVEYOR_CONSUMER_BIN, "--broker", job.backend(), "--id", id, "--queue", queue,
      "--handler",           handler};
  if (!emit_to.empty()) argv.insert(argv.end(), {"--emit-to", emit_to});
  argv.insert(argv.end(), flags.begin(), flags.end());
  return job.start(id, argv, kPython);
}

const wire::QueueStatus* find_queue(const wire::StatusReply& status, const std::string& name) {
  for (const auto& q : status.queues()) {
    if (q.name() == name) return &q;
  }
  return nullptr;
}

// Results lines by id; fails the test on an id reported twice.
std::map<std::string, nlohmann::json> by_id(const std::vector<nlohmann::json>& lines) {
  std::map<std::string, nlohmann::json> out;
  for (const auto& line : lines) {
    const auto id = line.at("id").get<std::string>();
    EXPECT_FALSE(out.contains(id)) << id << " reported twice";
    out[id] = line;
  }
  return out;
}

std::string make_pages(Cluster& job, int count) {
  const std::string site = job.path("site");
  EXPECT_EQ(run_to_end({"/usr/bin/env", "python3", kExamples + "/make_pages.py", site, "--count",
                        std::to_string(count)},
                       job.path("pages.out"), job.path("pages.err"), 30s),
            0)
      << read_file(job.path("pages.err"));
  return site;
}

TEST(Pipeline, PagesSummarisedThenStoredByTwoStagesOfPythonWorkers) {
  Cluster job;
  const std::string site = make_pages(job, 30);
  const std::string out = job.path("out");
  job.start_broker({"--producers", "1", "--exit-when-drained"});
  Process& store = start_stage(job, "store", "store", "",
                               "pipe:python3 " + kExamples + "/write_files.py --out-dir " + out);
  Process& links =
      start_stage(job, "links", "pages", "store",
                  "pipe:python3 " + kExamples + "/html_links.py --emit", {"--concurrency", "8"});
  ASSERT_TRUE(job.wait_connected("links") && job.wait_connected("store")) << job.log("broker");
  Process& p =
      job.start_producer("site", {"--queue", "pages", "--source", "lines:" + site + "/pages.txt"});
  ASSERT_EQ(p.wait(60s), 0) << job.log("site");
  const auto results = by_id(read_result_lines(job.results_path("site")));
  ASSERT_EQ(results.size(), 60u) << "30 pages, 30 stored summaries";
  for (std::uint64_t seq = 0; seq < 30; ++seq) {
    const auto& page = results.at("site:" + std::to_string(seq));
    const auto& stored = results.at("site:" + std::to_string(seq) + "/0");
    EXPECT_EQ(page.at("status"), "ok") << page.dump();
    EXPECT_EQ(stored.at("status"), "ok") << stored.dump();
    EXPECT_EQ(stored.at("queue"), "store");
    EXPECT_EQ(stored.at("parent"), page.at("id"));
    EXPECT_EQ(stored.at("seq"), seq) << "an emitted task's line shows its root's seq";
    const auto summary = nlohmann::json::parse(page.at("output").get<std::string>());
    const auto written = nlohmann::json::parse(read_file(stored.at("output").get<std::string>()));
    EXPECT_EQ(written, summary) << "the second stage stored what the first emitted";
  }
  EXPECT_EQ(links.wait(20s), 0) << job.log("links");
  EXPECT_EQ(store.wait(20s), 0) << job.log("store");
  EXPECT_EQ(job.broker().wait(20s), 0) << job.log("broker");
}

TEST(Pipeline, EachStageIsPilledOnceNoTaskCanReachItTheLastAtTheDrain) {
  Cluster job;
  const std::string gate = job.path("gate");
  job.start_broker({"--producers", "1", "--exit-when-drained"});
  Process& first = start_stage(job, "first", "a", "b", "echo");
  // The second stage holds every task until the test opens the gate (a condition, not a time).
  Process& second = start_stage(job, "second", "b", "",
                                "exec:while [ ! -e " + gate + " ]; do sleep 0.02; done; cat",
                                {"--concurrency", "2"});
  ASSERT_TRUE(job.wait_connected("first") && job.wait_connected("second")) << job.log("broker");
  Process& p = job.start_producer("p1", {"--queue", "a", "--source", "gen:20:16"});
  ASSERT_EQ(first.wait(30s), 0) << "stage a is over while b still works: " << job.log("first");
  const auto status = job.status();
  ASSERT_TRUE(status) << job.log("broker");
  const auto* a = find_queue(*status, "a");
  const auto* b = find_queue(*status, "b");
  ASSERT_TRUE(a && b) << describe(status);
  EXPECT_TRUE(a->finished()) << describe(status);
  EXPECT_FALSE(b->finished()) << describe(status);
  EXPECT_GT(b->queued() + b->in_flight(), 0u) << describe(status);
  EXPECT_TRUE(second.running() && p.running());
  write_file(gate, "");
  EXPECT_EQ(p.wait(30s), 0) << job.log("p1");
  EXPECT_EQ(second.wait(20s), 0) << job.log("second");
  EXPECT_EQ(job.broker().wait(20s), 0) << job.log("broker");
  const auto results = by_id(read_result_lines(job.results_path("p1")));
  EXPECT_EQ(results.size(), 40u);
}

TEST(Pipeline, ACrawlerFeedingItsOwnQueueReadsEveryPageOfATreeOnce) {
  Cluster job;
  const std::string site = job.path("tree");
  ASSERT_EQ(run_to_end({"/usr/bin/env", "python3", kExamples + "/crawl.py", "--make-site", site,
                        "--depth", "3", "--fanout", "3"},
                       job.path("site.out"), job.path("site.err"), 30s, kPython),
            0)
      << read_file(job.path("site.err"));
  write_file(job.path("roots.txt"), site + "/page-0.html\n");
  job.start_broker({"--producers", "1", "--exit-when-drained"});
  Process& crawler = start_stage(job, "crawler", "pages", "pages",
                                 "pipe:python3 " + kExamples + "/crawl.py", {"--concurrency", "8"});
  ASSERT_TRUE(job.wait_connected("crawler")) << job.log("broker");
  Process& p = job.start_producer(
      "crawl", {"--queue", "pages", "--source", "lines:" + job.path("roots.txt")});
  ASSERT_EQ(p.wait(60s), 0) << job.log("crawl");
  const auto results = by_id(read_result_lines(job.results_path("crawl")));
  ASSERT_EQ(results.size(), 40u) << "1 + 3 + 9 + 27 pages";
  std::set<std::string> titles;
  for (const auto& [id, r] : results) {
    EXPECT_EQ(r.at("status"), "ok") << r.dump();
    titles.insert(r.at("output").get<std::string>());
    if (id != "crawl:0") {
      EXPECT_TRUE(results.contains(r.at("parent").get<std::string>())) << id;
    }
  }
  EXPECT_EQ(titles.size(), 40u) << "every page once";
  EXPECT_TRUE(titles.contains("Page 39"));
  EXPECT_EQ(crawler.wait(20s), 0) << job.log("crawler");
  EXPECT_EQ(job.broker().wait(20s), 0) << job.log("broker");
}

TEST(Pipeline, AFanOutLargerThanTheQueueWaitsForTheNextStageInsteadOfFailing) {
  Cluster job;
  job.start_broker({"--producers", "1", "--exit-when-drained", "--queue-capacity", "8"});
  Process& fan =
      start_stage(job, "fan", "a", "b", "exec:seq 1 30", {"--concurrency", "1", "--prefetch", "0"});
  Process& sink = start_stage(job, "sink", "b", "", "sleep:1", {"--concurrency", "2"});
  ASSERT_TRUE(job.wait_connected("fan") && job.wait_connected("sink")) << job.log("broker");
  Process& p = job.start_producer("p1", {"--queue", "a", "--source", "gen:6:8"});
  std::uint64_t most = 0;  // b's depth, sampled while the run goes on
  for (const auto deadline = within(60s);
       p.running() && std::chrono::steady_clock::now() < deadline;
       wait_until([&] { return !p.running(); }, 50ms)) {
    const auto status = job.status();
    if (const auto* b = status ? find_queue(*status, "b") : nullptr) {
      most = std::max(most, b->queued() + b->delayed());
    }
  }
  ASSERT_EQ(p.wait(60s), 0) << job.log("p1");
  const auto results = by_id(read_result_lines(job.results_path("p1")));
  EXPECT_EQ(results.size(), 6u + 6u * 30u);
  // A result's emits are taken whole (atomically), so b can pass its capacity by what the tasks
  // the first stage holds emit: here one task (--concurrency 1 --prefetch 0), 30 children.
  EXPECT_LE(most, 8u + 30u) << "b grew past its capacity and one more fan-out";
  EXPECT_EQ(fan.wait(20s), 0) << job.log("fan");
  EXPECT_EQ(sink.wait(20s), 0) << job.log("sink");
}

TEST(Pipeline, AFirstStageConsumerKilledMidRunLosesNoTaskAndEmitsNoneTwice) {
  Cluster job;
  job.start_broker({"--producers", "1", "--exit-when-drained", "--heartbeat-ms", "200"});
  const std::string emit_two = "exec:sleep 0.05; printf 'x\\ny\\n'";
  Process& doomed = start_stage(job, "doomed", "a", "b", emit_two, {"--concurrency", "4"});
  Process& steady = start_stage(job, "steady", "a", "b", emit_two, {"--concurrency", "4"});
  Process& sink = start_stage(job, "sink", "b", "", "echo");
  ASSERT_TRUE(job.wait_connected("doomed") && job.wait_connected("steady") &&
              job.wait_connected("sink"))
      << job.log("broker");
  Process& p = job.start_producer("p1", {"--queue", "a", "--source", "gen:60:8"});
  ASSERT_TRUE(wait_until(
      [&] {
        const auto status = job.status();
        const auto* c = status ? find_consumer(*status, "doomed") : nullptr;
        return c != nullptr && c->completed() >= 5;
      },
      20s))
      << job.log("doomed");
  doomed.kill();
  ASSERT_EQ(p.wait(60s), 0) << job.log("p1");
  const auto results = by_id(read_result_lines(job.results_path("p1")));
  EXPECT_EQ(results.size(), 60u * 3u) << "every task and its two children, each once";
  for (std::uint64_t seq = 0; seq < 60; ++seq) {
    const std::string root = "p1:" + std::to_string(seq);
    EXPECT_TRUE(results.contains(root + "/0") && results.contains(root + "/1")) << root;
    EXPECT_FALSE(results.contains(root + "/2")) << root;
  }
  EXPECT_EQ(steady.wait(20s), 0) << job.log("steady");
  EXPECT_EQ(sink.wait(20s), 0) << job.log("sink");
}

TEST(Pipeline, AQueueBeyondMaxQueuesIsRefusedWithAClearError) {
  Cluster job;
  job.start_broker({"--max-queues", "2"});  // "default" and one more
  Process& first = start_stage(job, "first", "a", "", "echo");
  ASSERT_TRUE(job.wait_connected("first")) << job.log("broker");
  Process& extra = start_stage(job, "extra", "b", "", "echo");
  EXPECT_EQ(extra.wait(20s), 1) << job.log("extra");
  EXPECT_NE(job.error_line("extra").find("--max-queues 2"), std::string::npos)
      << job.error_line("extra");
  EXPECT_TRUE(first.running());
}

}  // namespace
}  // namespace conveyor::testing
