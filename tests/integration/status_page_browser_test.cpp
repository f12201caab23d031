// The status page in a real browser: headless Chromium (Debian's chromium) loads it from the
// broker during a job, runs its script, and the DOM it renders holds every consumer and counts
// that the broker's own status brackets. Skipped without chromium, failed under
// CONVEYOR_REQUIRE_ALL=1 (scripts/install-deps.sh test installs it).
#include <gtest/gtest.h>
#include <signal.h>
#include <stdlib.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <iostream>
#include <thread>

#include <nlohmann/json.hpp>

#include "support/cluster.hpp"
#include "support/http.hpp"

namespace conveyor::testing {
namespace {

constexpr const char* kChromium = "/usr/bin/chromium";
constexpr const char* kSetsid = "/usr/bin/setsid";

// The DOM Chromium renders from `url` after 3 s of virtual time (the page refreshes every second),
// or nothing when it fails or outlives `limit`. It runs in a session of its own, so that its
// helper processes are killed with it, with a fresh profile and home, removed afterwards. Without
// these flags it reaches for the network and stalls.
std::optional<std::string> rendered_dom(Cluster& job, const std::string& url,
                                        std::chrono::milliseconds limit) {
  std::string profile = job.path("chromium-XXXXXX");
  if (::mkdtemp(profile.data()) == nullptr) return std::nullopt;
  Process& browser =
      job.start("chromium",
                {kSetsid, kChromium, "--headless", "--no-sandbox", "--disable-gpu",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 "--no-first-run", "--user-data-dir=" + profile, "--virtual-time-budget=3000",
                 "--dump-dom", url},
                {{"HOME", profile}, {"XDG_CONFIG_HOME", profile}, {"XDG_CACHE_HOME", profile}});
  const auto status = browser.wait(limit);
  ::kill(-browser.pid(), SIGKILL);  // its renderer and helpers, whether it finished or not
  browser.kill();
  std::filesystem::remove_all(profile);
  if (status != 0) return std::nullopt;
  return read_file(job.path("chromium.out"));
}

// The tag (from '<' to '>') that holds `marker`, searching from `from`; "" when there is none.
std::string tag_with(const std::string& dom, const std::string& marker, std::size_t from = 0) {
  const auto at = dom.find(marker, from);
  if (at == std::string::npos) return "";
  const auto open = dom.rfind('<', at);
  const auto close = dom.find('>', at);
  return open == std::string::npos || close == std::string::npos
             ? ""
             : dom.substr(open, close - open + 1);
}

// The number in attribute `name` of `tag`; -1 when it has none.
double number_in(const std::string& tag, const std::string& name = "data-value") {
  const auto at = tag.find(" " + name + "=\"");
  if (at == std::string::npos) return -1;
  return std::atof(tag.c_str() + at + name.size() + 3);
}

// data-value of the element with id `id`.
double value_of(const std::string& dom, const std::string& id) {
  return number_in(tag_with(dom, "id=\"" + id + "\""));
}

// data-value of the `field` cell in consumer `id`'s row; -1 when the row or cell is missing.
double consumer_cell(const std::string& dom, const std::string& id, const std::string& field) {
  const auto row = dom.find("data-consumer=\"" + id + "\"");
  if (row == std::string::npos) return -1;
  const auto end = dom.find("</tr>", row);
  const std::string tag = tag_with(dom, "data-field=\"" + field + "\"", row);
  return dom.find("data-field=\"" + field + "\"", row) < end ? number_in(tag) : -1;
}

// Whether /status.json on `port` shows at least one completed-per-second rate within `limit`.
bool wait_for_rates(int port, std::chrono::milliseconds limit) {
  const auto deadline = std::chrono::steady_clock::now() + limit;
  while (std::chrono::steady_clock::now() < deadline) {
    if (const auto body = http_get(port, "/status.json")) {
      const auto status = nlohmann::json::parse(*body, nullptr, false);
      if (!status.is_discarded() && !status["history"]["completed_per_second"].empty()) {
        return true;
      }
    }
    std::this_thread::sleep_for(50ms);  // polling a condition, with the deadline above
  }
  return false;
}

TEST(StatusPageBrowser, ChromiumRendersTheConsumersAndCountsDuringAJob) {
  if (!std::filesystem::exists(kChromium) || !std::filesystem::exists(kSetsid)) {
    if (const char* all = std::getenv("CONVEYOR_REQUIRE_ALL"); all && std::string(all) == "1") {
      FAIL() << kChromium << " is missing (scripts/install-deps.sh test installs it)";
    }
    GTEST_SKIP() << kChromium << " is missing: apt-get install chromium";
  }
  Cluster job;
  const int port = free_port();
  auto flags = metrics_flags(port);
  flags.insert(flags.end(), {"--queue-capacity", "4000"});
  job.start_broker(flags);
  const std::vector<std::string> consumers = {"c1", "c2", "c3"};
  for (const auto& id : consumers) {
    job.start_consumer(id, {"--handler", "sleep:20", "--concurrency", "2"});
    ASSERT_TRUE(job.wait_connected(id)) << job.log(id);
  }
  // About 300 tasks a second: a minute of work, far longer than the browser needs.
  job.start_producer("p1", {"--source", "gen:18000"});
  const auto every_one_worked = [&](const wire::StatusReply& s) {
    return std::all_of(consumers.begin(), consumers.end(), [&](const std::string& id) {
      const auto* c = find_consumer(s, id);
      return c && c->completed() > 0;
    });
  };
  const auto before = job.wait_status(every_one_worked, 20s);
  ASSERT_TRUE(before) << describe(job.status());
  // The chart's first rate needs two of the broker's once-a-second samples: a page loaded in the
  // broker's first second would rightly draw none.
  ASSERT_TRUE(wait_for_rates(port, 10s)) << http_get(port, "/status.json").value_or("no answer");

  const auto started = std::chrono::steady_clock::now();
  const auto dom = rendered_dom(job, "http://127.0.0.1:" + std::to_string(port) + "/", 60s);
  const auto took = std::chrono::steady_clock::now() - started;
  ASSERT_TRUE(dom) << read_file(job.path("chromium.log"));
  const auto after = job.status();
  ASSERT_TRUE(after);
  std::cerr << "chromium rendered the page in "
            << std::chrono::duration_cast<std::chrono::milliseconds>(took).count() << " ms\n";

  // The script ran and fetched the status (no error banner), and shows this broker.
  EXPECT_GE(number_in(tag_with(*dom, "<body"), "data-updates"), 1) << *dom;
  EXPECT_EQ(tag_with(*dom, "<body").find("data-error"), std::string::npos) << *dom;
  EXPECT_NE(tag_with(*dom, "id=\"state\"").find("data-state=\"running\""), std::string::npos);
  EXPECT_EQ(value_of(*dom, "pid"), job.broker().pid());
  EXPECT_EQ(value_of(*dom, "queue-capacity"), 4000);
  // Counts between what the broker said just before the page loaded and just after.
  const auto completed = [](const wire::StatusReply& s) {
    return static_cast<double>(s.totals().ok() + s.totals().failed() + s.totals().dead());
  };
  EXPECT_GE(value_of(*dom, "total-completed"), completed(*before));
  EXPECT_LE(value_of(*dom, "total-completed"), completed(*after));
  EXPECT_GE(value_of(*dom, "total-tasks"), value_of(*dom, "total-completed"));
  EXPECT_LE(value_of(*dom, "total-tasks"), 18000);
  EXPECT_EQ(value_of(*dom, "total-failed"), 0);
  EXPECT_GE(value_of(*dom, "rate-minute"), 0);
  for (const auto& id : consumers) {
    const double done = consumer_cell(*dom, id, "completed");
    EXPECT_GE(done, find_consumer(*before, id)->completed()) << id;
    EXPECT_LE(done, find_consumer(*after, id)->completed()) << id;
    EXPECT_EQ(consumer_cell(*dom, id, "capacity"), find_consumer(*after, id)->capacity()) << id;
  }
  // The chart drew the broker's history: at least one rate.
  EXPECT_GE(number_in(tag_with(*dom, "id=\"chart\""), "data-samples"), 1) << *dom;
}

}  // namespace
}  // namespace conveyor::testing
