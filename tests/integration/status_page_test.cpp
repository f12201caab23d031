// The broker's status page on --metrics-port (GET / and /status.json, README: Observability), with
// the real executables.
#include <gtest/gtest.h>

#include <algorithm>
#include <csignal>
#include <numeric>
#include <set>

#include "support/cluster.hpp"
#include "support/http.hpp"

namespace conveyor::testing {
namespace {

// /status.json as the broker serves it now; null when it does not answer with JSON.
nlohmann::json page_status(int port) {
  const auto body = http_get(port, "/status.json");
  return body ? nlohmann::json::parse(*body, nullptr, false) : nlohmann::json();
}

// `conveyor-ctl status --json` now; null when it fails.
nlohmann::json ctl_status(Cluster& job) {
  const CommandRun r =
      run_command(job, {CONVEYOR_CTL_BIN, "status", "--broker", job.admin(), "--json"});
  return r.status == 0 ? nlohmann::json::parse(r.out, nullptr, false) : nlohmann::json();
}

// A status without what changes with time alone (ages, rates) and without the page's history, so
// that two looks at an idle broker compare equal.
nlohmann::json timeless(nlohmann::json status) {
  if (!status.is_object()) return status;
  status.erase("uptime_seconds");
  status.erase("history");
  for (auto& consumer : status["consumers"]) {
    consumer.erase("connected_seconds");
    consumer.erase("rate_per_second");
  }
  return status;
}

std::set<std::string> keys(const nlohmann::json& object) {
  std::set<std::string> names;
  for (const auto& [key, value] : object.items())
    names.insert(key);
  return names;
}

TEST(BrokerStatusPage, ServesThePageAndTheStatusThatCtlPrintsDuringAJob) {
  Cluster job;
  const int port = free_port();
  auto flags = metrics_flags(port);
  flags.push_back("--service");
  job.start_broker(flags);
  for (const char* id : {"c1", "c2"}) {
    job.start_consumer(id, {"--handler", "sleep:5", "--concurrency", "2"});
    ASSERT_TRUE(job.wait_connected(id)) << job.log(id);
  }
  Process& p1 = job.start_producer("p1", {"--source", "gen:1500"});

  // Mid-run: the status shows the job under way, in the fields conveyor-ctl prints, plus history.
  nlohmann::json status;
  ASSERT_TRUE(wait_until(
      [&] {
        status = page_status(port);
        const auto done = status.is_object() ? status["totals"].value("completed", 0) : 0;
        return done > 0 && done < 1500;
      },
      20s))
      << status.dump();
  std::set<std::string> expected = keys(ctl_status(job));
  expected.insert("history");
  EXPECT_EQ(keys(status), expected);
  EXPECT_EQ(status["consumers"].size(), 2u) << status.dump();
  EXPECT_EQ(status["broker"]["pid"], job.broker().pid());
  EXPECT_EQ(status["broker"]["admin"], job.admin());

  // The page itself, whole, and its headers.
  const auto page = http_request(port, "GET", "/");
  ASSERT_TRUE(page);
  EXPECT_EQ(page->status, 200);
  EXPECT_EQ(http_header(*page, "Content-Type"), "text/html; charset=utf-8");
  EXPECT_EQ(page->body.rfind("<!doctype html>", 0), 0u);
  EXPECT_NE(page->body.find("id=\"consumers\""), std::string::npos);
  EXPECT_EQ(http_header(*page, "Content-Length"), std::to_string(page->body.size()));
  const auto json_head = http_request(port, "HEAD", "/status.json");
  ASSERT_TRUE(json_head);
  EXPECT_EQ(json_head->status, 200);
  EXPECT_EQ(http_header(*json_head, "Content-Type"), "application/json");
  EXPECT_TRUE(json_head->body.empty());

  ASSERT_EQ(p1.wait(60s), 0) << job.log("p1");
  // Drained and idle: the page and conveyor-ctl say the same thing, field for field.
  nlohmann::json from_ctl;
  EXPECT_TRUE(wait_until(
      [&] {
        status = page_status(port);
        from_ctl = ctl_status(job);
        return status.is_object() && status["drained"] == true &&
               status["totals"]["completed"] == 1500 && timeless(status) == timeless(from_ctl);
      },
      20s))
      << "page: " << timeless(status).dump() << "\nctl:  " << timeless(from_ctl).dump();

  // The history the chart draws: one rate a second, at most five minutes, and they add up to
  // the job (each rate is over about a second: 0.75 to 1.25 s between ticks of 250 ms).
  const auto& history = status["history"];
  EXPECT_EQ(history["interval_seconds"], 1.0);
  EXPECT_EQ(history["capacity"], 300);
  const auto rates = history["completed_per_second"].get<std::vector<double>>();
  ASSERT_FALSE(rates.empty());
  EXPECT_LE(rates.size(), 300u);
  EXPECT_TRUE(std::all_of(rates.begin(), rates.end(), [](double r) { return r >= 0; }));
  const double sum = std::accumulate(rates.begin(), rates.end(), 0.0);
  EXPECT_GT(sum, 1500 * 0.5) << history.dump();
  EXPECT_LT(sum, 1500 * 2.0) << history.dump();
  job.broker().signal(SIGTERM);
  EXPECT_EQ(job.broker().wait(20s), 0) << job.log("broker");
}

TEST(BrokerStatusPage, AnswersOnlyItsPathsAndOnlyGetAndHead) {
  Cluster job;
  const int port = free_port();
  job.start_broker(metrics_flags(port));
  ASSERT_TRUE(wait_until([&] { return http_get(port, "/status.json").has_value(); }, 10s));
  for (const char* path : {"/nope", "/status.json/x", "/index", "/metrics/x"}) {
    const auto reply = http_request(port, "GET", path);
    ASSERT_TRUE(reply) << path;
    EXPECT_EQ(reply->status, 404) << path;
  }
  for (const char* method : {"POST", "PUT", "DELETE"}) {
    const auto reply = http_request(port, method, "/");
    ASSERT_TRUE(reply) << method;
    EXPECT_EQ(reply->status, 405) << method;
    EXPECT_EQ(http_header(*reply, "Allow"), "GET, HEAD");
  }
  const auto head = http_request(port, "HEAD", "/");
  ASSERT_TRUE(head);
  EXPECT_EQ(head->status, 200);
  EXPECT_TRUE(head->body.empty());
  // /metrics is still prometheus-cpp's, beside the page, and the query string is no other path.
  EXPECT_EQ(scrape(port, "conveyor_queue_capacity"), 10000.0);
  EXPECT_TRUE(http_get(port, "/status.json?fresh=1").has_value());
  job.broker().signal(SIGTERM);
  EXPECT_EQ(job.broker().wait(20s), 0) << job.log("broker");
}

}  // namespace
}  // namespace conveyor::testing
