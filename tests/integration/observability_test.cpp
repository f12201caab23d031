// Observability (README: Observability): a real Prometheus scrapes the broker's /metrics during a
// job; `conveyor-ctl status` matches the run; every log line under --log-format json is JSON.
#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <csignal>
#include <cstdlib>
#include <filesystem>
#include <set>
#include <sstream>
#include <utility>

#include "support/cluster.hpp"
#include "support/http.hpp"

namespace conveyor::testing {
namespace {

// The value of an instant query's single sample, as Prometheus' HTTP API returns it.
std::optional<double> prometheus_value(int port, const std::string& query) {
  auto body = http_get(port, "/api/v1/query?query=" + query);
  if (!body) return std::nullopt;
  const auto json = nlohmann::json::parse(*body, nullptr, false);
  if (json.is_discarded() || json.value("status", "") != "success") return std::nullopt;
  const auto& result = json["data"]["result"];
  if (!result.is_array() || result.size() != 1) return std::nullopt;
  return std::stod(result[0]["value"][1].get<std::string>());
}

constexpr const char* kPrometheus = "/usr/bin/prometheus";

TEST(Observability, PrometheusScrapesTheBrokerDuringAJob) {
  if (!std::filesystem::exists(kPrometheus)) {
    if (const char* all = std::getenv("CONVEYOR_REQUIRE_ALL"); all && std::string(all) == "1") {
      FAIL() << kPrometheus << " is missing (scripts/install-deps.sh test installs it)";
    }
    GTEST_SKIP() << kPrometheus << " is missing: apt-get install prometheus";
  }
  Cluster job;
  const int metrics_port = free_port();
  job.start_broker({"--metrics-port", std::to_string(metrics_port), "--metrics-address",
                    "127.0.0.1", "--queue-capacity", "200"});
  const int web_port = free_port();
  write_file(job.path("prometheus.yml"),
             "global:\n  scrape_interval: 1s\nscrape_configs:\n  - job_name: conveyor\n"
             "    static_configs:\n      - targets: ['127.0.0.1:" +
                 std::to_string(metrics_port) + "']\n");
  Process& prometheus =
      job.start("prometheus", {kPrometheus, "--config.file=" + job.path("prometheus.yml"),
                               "--storage.tsdb.path=" + job.path("tsdb"),
                               "--web.listen-address=127.0.0.1:" + std::to_string(web_port)});
  ASSERT_TRUE(wait_until([&] { return http_get(web_port, "/-/ready").has_value(); }, 30s))
      << job.log("prometheus");
  // The job runs while Prometheus scrapes: it sees the queue fill and drain.
  job.start_consumer("c1", {"--handler", "sleep:1", "--concurrency", "4"});
  job.start_consumer("c2", {"--handler", "sha256", "--concurrency", "2"});
  Process& p1 = job.start_producer("p1", {"--source", "gen:2000:32"});
  EXPECT_EQ(p1.wait(60s), 0) << job.log("p1");
  std::optional<double> completed, depth;
  EXPECT_TRUE(wait_until(
      [&] {
        completed = prometheus_value(web_port, "conveyor_tasks_completed_total");
        depth = prometheus_value(web_port, "conveyor_queue_depth");
        return completed == 2000.0 && depth == 0.0;
      },
      30s))
      << "completed " << completed.value_or(-1) << ", queue depth " << depth.value_or(-1) << "\n"
      << job.log("prometheus");
  // The histogram counts every final result too.
  EXPECT_EQ(prometheus_value(web_port, "conveyor_task_duration_seconds_count"), 2000.0);
  job.broker().signal(SIGTERM);
  EXPECT_EQ(job.broker().wait(20s), 0) << job.log("broker");
  prometheus.signal(SIGTERM);
  EXPECT_TRUE(prometheus.wait(20s).has_value());
}

TEST(Observability, StatusCommandMatchesTheRun) {
  Cluster job;
  job.start_broker({"--service"});
  job.start_consumer("c1", {"--handler", "echo", "--concurrency", "2"});
  job.start_consumer("c2", {"--handler", "echo", "--concurrency", "2"});
  Process& p1 = job.start_producer("p1", {"--source", "gen:500:16"});
  ASSERT_EQ(p1.wait(60s), 0) << job.log("p1");
  nlohmann::json status;
  // The broker counts the producer's last acknowledgement once it arrives: wait for that state.
  ASSERT_TRUE(wait_until(
      [&] {
        CommandRun r =
            run_command(job, {CONVEYOR_CTL_BIN, "status", "--broker", job.admin(), "--json"});
        if (r.status != 0) return false;
        status = nlohmann::json::parse(r.out);
        return status["drained"] == true && status["consumers"].size() == 2;
      },
      20s))
      << status.dump();
  EXPECT_EQ(status["totals"]["tasks"], 500);
  EXPECT_EQ(status["totals"]["completed"], 500);
  EXPECT_EQ(status["queue_depth"], 0);
  EXPECT_EQ(status["in_flight"], 0);
  std::set<std::string> ids;
  std::uint64_t completed = 0;
  for (const auto& c : status["consumers"]) {
    ids.insert(c["id"].get<std::string>());
    completed += c["completed"].get<std::uint64_t>();
  }
  EXPECT_EQ(ids, (std::set<std::string>{"c1", "c2"}));
  EXPECT_EQ(completed, 500u);
  ASSERT_EQ(status["producers"].size(), 1u);
  EXPECT_EQ(status["producers"][0]["id"], "p1");
  EXPECT_EQ(status["producers"][0]["sent"], 500);
  EXPECT_EQ(status["producers"][0]["received"], 500);
  EXPECT_EQ(status["producers"][0]["results_pending"], 0);

  CommandRun table = run_command(job, {CONVEYOR_CTL_BIN, "status", "--broker", job.admin()});
  EXPECT_EQ(table.status, 0) << table.err;
  for (const char* expected : {"queue", "0 / 10000", "CONSUMER", "c1", "c2", "PRODUCER", "p1"})
    EXPECT_NE(table.out.find(expected), std::string::npos) << expected << "\n" << table.out;
  job.broker().signal(SIGTERM);
  EXPECT_EQ(job.broker().wait(20s), 0) << job.log("broker");
}

TEST(Observability, AnUnreachableBrokerIsOneClearLineAndStatusOne) {
  Cluster job;
  const std::string nowhere = "tcp://127.0.0.1:" + std::to_string(free_port());
  CommandRun r =
      run_command(job, {CONVEYOR_CTL_BIN, "status", "--broker", nowhere, "--timeout", "300ms"});
  EXPECT_EQ(r.status, 1);
  EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err;
  EXPECT_NE(r.err.find("no answer from the broker's admin endpoint " + nowhere), std::string::npos)
      << r.err;
  EXPECT_TRUE(r.out.empty()) << r.out;
}

// --metrics-port on a producer and a consumer: each serves its own counters during the job.
TEST(Observability, ProducerAndConsumerServeTheirOwnMetrics) {
  Cluster job;
  job.start_broker({"--service"});
  const int consumer_port = free_port();
  auto flags = metrics_flags(consumer_port);
  flags.insert(flags.end(), {"--handler", "sleep:5", "--concurrency", "2"});
  Process& c1 = job.start_consumer("c1", flags);
  ASSERT_TRUE(job.wait_connected("c1")) << job.log("c1");
  const int producer_port = free_port();
  flags = metrics_flags(producer_port);
  flags.insert(flags.end(), {"--source", "gen:600"});
  Process& p1 = job.start_producer("p1", flags);

  // Mid-run: every task read, some results back, not all.
  std::optional<double> read, ok;
  EXPECT_TRUE(wait_until(
      [&] {
        const auto body = http_get(producer_port, "/metrics");
        if (!body) return false;
        read = metric_value(*body, "conveyor_producer_tasks_read_total");
        ok = metric_value(*body, R"(conveyor_producer_results_total{status="ok"})");
        return read == 600.0 && ok > 0.0 && ok < 600.0;
      },
      20s))
      << "read " << read.value_or(-1) << ", ok " << ok.value_or(-1) << "\n"
      << job.log("p1");
  ASSERT_EQ(p1.wait(60s), 0) << job.log("p1");

  // After it: the consumer reported all 600, holds nothing, and is still connected.
  std::string body;
  EXPECT_TRUE(wait_until(
      [&] {
        body = http_get(consumer_port, "/metrics").value_or("");
        return metric_value(body, R"(conveyor_consumer_results_total{status="ok"})") == 600.0 &&
               metric_value(body, "conveyor_consumer_tasks_running") == 0.0;
      },
      20s))
      << body;
  EXPECT_EQ(metric_value(body, "conveyor_consumer_tasks_received_total"), 600.0) << body;
  EXPECT_EQ(metric_value(body, "conveyor_consumer_tasks_prefetched"), 0.0) << body;
  EXPECT_EQ(metric_value(body, "conveyor_consumer_workers"), 2.0) << body;
  EXPECT_EQ(metric_value(body, "conveyor_consumer_connected"), 1.0) << body;
  EXPECT_EQ(metric_value(body, R"(conveyor_consumer_info{id="c1"})"), 1.0) << body;
  job.broker().signal(SIGTERM);
  EXPECT_EQ(job.broker().wait(20s), 0) << job.log("broker");
  EXPECT_EQ(c1.wait(20s), 0) << job.log("c1");
}

TEST(Observability, AMetricsPortInUseIsOneClearLineAtStartup) {
  Cluster job;
  job.start_broker();
  const auto [taken_fd, taken] = loopback_socket(true);
  auto argv = metrics_flags(taken);
  argv.insert(argv.begin(),
              {CONVEYOR_CONSUMER_BIN, "--broker", job.backend(), "--handler", "echo"});
  CommandRun r = run_command(job, argv);
  ::close(taken_fd);
  EXPECT_EQ(r.status, 1);
  EXPECT_NE(r.err.find("cannot serve metrics on 127.0.0.1:" + std::to_string(taken)),
            std::string::npos)
      << r.err;
  EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err;
}

// Every line is one JSON object, also when a message holds quotes, newlines or invalid UTF-8;
// the messages, decoded. (The log's format is what this test is about, not its wording.)
std::vector<std::string> json_log_messages(const std::string& log, const std::string& name) {
  std::istringstream lines(log);
  std::vector<std::string> messages;
  for (std::string line; std::getline(lines, line);) {
    const auto json = nlohmann::json::parse(line, nullptr, false);
    EXPECT_FALSE(json.is_discarded()) << name << ": not JSON: " << line;
    if (json.is_discarded()) continue;
    EXPECT_TRUE(json.contains("msg") && json.contains("level")) << line;
    messages.push_back(json.value("msg", ""));
  }
  EXPECT_GT(messages.size(), 0u) << name;
  return messages;
}

TEST(Observability, LogLinesUnderLogFormatJsonAreJson) {
  Cluster job;
  const std::vector<std::string> json_logs = {"--log-format", "json", "--log-level", "debug"};
  job.start_broker(json_logs);
  // Failing tasks put the handler's error text, with quotes, a newline and a byte that is not
  // UTF-8, into the consumer's and the producer's logs.
  auto flags = json_logs;
  flags.insert(flags.end(), {"--handler", R"(exec:printf 'say "no"\nthen \377 stop' >&2; exit 3)"});
  job.start_consumer("c1", flags);
  flags = json_logs;
  flags.insert(flags.end(), {"--source", "gen:20"});
  Process& p1 = job.start_producer("p1", flags);
  EXPECT_EQ(p1.wait(30s), kSomeTasksFailed) << job.log("p1");
  job.broker().signal(SIGTERM);
  EXPECT_EQ(job.broker().wait(20s), 0) << job.log("broker");
  for (const char* name : {"broker", "p1"})
    json_log_messages(job.log(name), name);
  // The handler's error, quotes and newline included, survives the encoding in one message.
  const auto messages = json_log_messages(job.log("c1"), "c1");
  EXPECT_TRUE(std::any_of(messages.begin(), messages.end(), [](const std::string& m) {
    return m.find("say \"no\"\nthen ") != std::string::npos;
  })) << job.log("c1");
}

}  // namespace
}  // namespace conveyor::testing
