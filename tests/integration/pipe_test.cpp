// pipe: handlers with the real executables (DESIGN.md §7.3): Python workers written with the
// package in clients/python run the three examples, a worker killed mid-run loses nothing, and a
// command that cannot run stops the consumer before it takes any task.
#include <gtest/gtest.h>

#include <csignal>
#include <filesystem>
#include <fstream>

#include <nlohmann/json.hpp>

#include "conveyor/producer/source.hpp"
#include "support/cluster.hpp"

namespace conveyor::testing {
namespace {

const std::string kSource = CONVEYOR_SOURCE_DIR;
const std::string kExamples = kSource + "/examples/python";
const std::map<std::string, std::string> kPython = {{"PYTHONPATH", kSource + "/clients/python"}};

Process& start_pipe_consumer(Cluster& job, const std::string& id, const std::string& command,
                             std::vector<std::string> flags = {}) {
  std::vector<std::string> argv = {
      CONVEYOR_CONSUMER_BIN, "--broker", job.backend(), "--id", id, "--handler", "pipe:" + command};
  argv.insert(argv.end(), flags.begin(), flags.end());
  return job.start(id, argv, kPython);
}

TEST(Pipe, JsonFieldsPicksTheFieldOfEachRecordAndFailsThoseWithout) {
  Cluster job;
  job.start_broker({"--producers", "1", "--exit-when-drained"});
  Process& c = start_pipe_consumer(job, "py", "python3 " + kExamples + "/json_fields.py user.name",
                                   {"--concurrency", "4"});
  ASSERT_TRUE(job.wait_connected("py")) << job.log("py");
  Process& p =
      job.start_producer("p1", {"--source", "lines:" + kExamples + "/samples/records.jsonl"});
  ASSERT_EQ(p.wait(60s), kSomeTasksFailed) << job.log("p1");
  const auto results = read_results(job.results_path("p1"));
  ASSERT_EQ(results.size(), 20u);
  std::ifstream records(kExamples + "/samples/records.jsonl");
  std::size_t ok = 0;
  std::uint64_t seq = 0;
  for (std::string line; std::getline(records, line); ++seq) {
    const auto record = nlohmann::json::parse(line);
    const auto& r = results.at(seq);
    if (record.contains("user") && record["user"].contains("name")) {
      EXPECT_EQ(r.at("status"), "ok") << r.dump();
      EXPECT_EQ(r.at("output"), record["user"]["name"].get<std::string>()) << r.dump();
      ++ok;
    } else {
      EXPECT_EQ(r.at("status"), "failed") << r.dump();
    }
  }
  EXPECT_EQ(ok, 18u);
  EXPECT_EQ(c.wait(20s), 0) << job.log("py");
}

TEST(Pipe, HtmlLinksReadsEveryPageOfAGeneratedSiteWithAnAsyncHandler) {
  Cluster job;
  const std::string site = job.path("site");
  ASSERT_EQ(
      run_to_end({"/usr/bin/env", "python3", kExamples + "/make_pages.py", site, "--count", "120"},
                 job.path("pages.out"), job.path("pages.err"), 30s),
      0)
      << read_file(job.path("pages.err"));
  job.start_broker({"--producers", "1", "--exit-when-drained"});
  Process& c = start_pipe_consumer(job, "py", "python3 " + kExamples + "/html_links.py",
                                   {"--concurrency", "16", "--pipe-processes", "2"});
  ASSERT_TRUE(job.wait_connected("py")) << job.log("py");
  Process& p = job.start_producer("site", {"--source", "lines:" + site + "/pages.txt"});
  ASSERT_EQ(p.wait(60s), 0) << job.log("site");
  const auto results = read_results(job.results_path("site"));
  ASSERT_EQ(results.size(), 120u);
  for (const auto& [seq, r] : results) {
    const auto summary = nlohmann::json::parse(r.at("output").get<std::string>());
    EXPECT_FALSE(summary.at("title").get<std::string>().empty()) << r.dump();
    EXPECT_GE(summary.at("links").size(), 2u) << r.dump();
  }
  EXPECT_EQ(c.wait(20s), 0) << job.log("py");
}

TEST(Pipe, WriteFilesStoresEachTaskInItsOwnFile) {
  Cluster job;
  const std::string out = job.path("out");
  job.start_broker({"--producers", "1", "--exit-when-drained"});
  Process& c =
      start_pipe_consumer(job, "py", "python3 " + kExamples + "/write_files.py --out-dir " + out,
                          {"--concurrency", "4"});
  ASSERT_TRUE(job.wait_connected("py")) << job.log("py");
  Process& p = job.start_producer("p1", {"--source", "gen:50:16"});
  ASSERT_EQ(p.wait(60s), 0) << job.log("p1");
  const auto results = read_results(job.results_path("p1"));
  ASSERT_EQ(results.size(), 50u);
  for (const auto& [seq, r] : results) {
    const std::string path = r.at("output").get<std::string>();
    EXPECT_EQ(read_file(path), producer::generated_payload(seq, 16)) << path;
  }
  std::size_t files = 0;
  for (const auto& entry : std::filesystem::directory_iterator(out))
    files += entry.is_regular_file() ? 1 : 0;
  EXPECT_EQ(files, 50u);
  EXPECT_EQ(c.wait(20s), 0) << job.log("py");
}

TEST(Pipe, AWorkerKilledMidRunLosesNothing) {
  Cluster job;
  job.start_broker({"--producers", "1", "--exit-when-drained"});
  const std::string pids = job.path("pids");
  const std::string worker = job.path("worker.py");
  write_file(worker,
             "import os, time\n"
             "from conveyor import worker\n"
             "open('" +
                 pids +
                 "', 'a').write(f'{os.getpid()}\\n')\n"
                 "def handle(task):\n"
                 "    time.sleep(0.005)\n"
                 "    return task.text\n"
                 "worker.run(handle)\n");
  Process& c = start_pipe_consumer(job, "py", "python3 " + worker,
                                   {"--concurrency", "4", "--pipe-processes", "2"});
  ASSERT_TRUE(job.wait_connected("py")) << job.log("py");
  Process& p = job.start_producer("p1", {"--source", "gen:600"});
  ASSERT_TRUE(wait_until(
      [&] {
        const auto s = job.status();
        return s && s->totals().ok() >= 100;
      },
      30s))
      << describe(job.status());
  std::ifstream in(pids);
  pid_t victim = 0;
  ASSERT_TRUE(in >> victim) << "no worker wrote its pid";
  ASSERT_EQ(::kill(victim, SIGKILL), 0);
  ASSERT_EQ(p.wait(60s), 0) << job.log("p1");
  const auto results = read_results(job.results_path("p1"));
  ASSERT_EQ(results.size(), 600u);
  for (const auto& [seq, r] : results) {
    EXPECT_EQ(r.at("status"), "ok") << r.dump();
    EXPECT_EQ(r.at("output"), producer::generated_payload(seq, std::nullopt));
  }
  EXPECT_EQ(c.wait(20s), 0) << job.log("py");
}

TEST(Pipe, ThePythonProducerFeedsAnyBytesAndYieldsEveryResult) {
  Cluster job;
  job.start_broker({"--producers", "1", "--exit-when-drained"});
  Process& c = job.start_consumer("c1", {"--handler", "sha256"});
  ASSERT_TRUE(job.wait_connected("c1")) << job.log("c1");
  const std::string script = job.path("produce.py");
  write_file(script,
             "import hashlib, sys\n"
             "from conveyor import producer\n"
             "tasks = [b'line one\\nline two', b'\\x00\\xff bytes', 'text \\u00e9']\n"
             "tasks = tasks * 100\n"
             "got = producer.run_all(tasks, broker=sys.argv[1], id='py', executable=sys.argv[2])\n"
             "assert len(got) == 300, len(got)\n"
             "for r in got:\n"
             "    t = tasks[r.seq]\n"
             "    t = t.encode() if isinstance(t, str) else t\n"
             "    assert r.ok and r.text == hashlib.sha256(t).hexdigest(), r\n"
             "print('ok', len(got))\n");
  Process& p = job.start(
      "py", {"/usr/bin/env", "python3", script, job.frontend(), CONVEYOR_PRODUCER_BIN}, kPython);
  EXPECT_EQ(p.wait(60s), 0) << job.log("py");
  EXPECT_EQ(read_file(job.path("py.out")), "ok 300\n");
  EXPECT_EQ(c.wait(20s), 0) << job.log("c1");
}

TEST(Pipe, ACommandThatCannotRunStopsTheConsumerWithOneLineBeforeItTakesWork) {
  Cluster job;
  job.start_broker();
  Process& c = start_pipe_consumer(job, "py", "no-such-worker-command");
  EXPECT_EQ(c.wait(20s), 1) << job.log("py");
  EXPECT_NE(job.error_line("py").find("exited at once"), std::string::npos) << job.log("py");
  const auto status = job.status();
  ASSERT_TRUE(status);
  EXPECT_EQ(status->consumers_size(), 0) << "it never said hello";
}

}  // namespace
}  // namespace conveyor::testing
