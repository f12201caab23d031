// `conveyor-ctl status --ready-file` and `--watch` against real brokers: each of two brokers on one
// host found by its own ready file, a ready file that cannot be used, refreshes until a signal.
#include <gtest/gtest.h>

#include <algorithm>
#include <csignal>
#include <sstream>

#include "support/cluster.hpp"

namespace conveyor::testing {
namespace {

std::size_t lines(const std::string& text) {
  return static_cast<std::size_t>(std::count(text.begin(), text.end(), '\n'));
}

TEST(CtlStatus, EachOfTwoBrokersOnOneHostIsFoundByItsReadyFile) {
  Cluster a, b;
  a.start_broker({"--queue-capacity", "111"});
  b.start_broker({"--queue-capacity", "222"});
  for (auto [job, capacity] : {std::pair{&a, 111}, std::pair{&b, 222}}) {
    const std::string ready = job->path("broker.ready");
    CommandRun r = run_command(*job, {CONVEYOR_CTL_BIN, "status", "--ready-file", ready, "--json"});
    ASSERT_EQ(r.status, 0) << r.err;
    const auto status = nlohmann::json::parse(r.out);
    EXPECT_EQ(status["broker"]["pid"], job->broker().pid());
    EXPECT_EQ(status["broker"]["admin"], job->admin());
    EXPECT_EQ(status["broker"]["frontend"], job->frontend());
    EXPECT_EQ(status["queue_capacity"], capacity);
    r = run_command(*job, {CONVEYOR_CTL_BIN, "status", "--ready-file", ready});
    ASSERT_EQ(r.status, 0) << r.err;
    EXPECT_NE(r.out.find("pid " + std::to_string(job->broker().pid()) + "  admin " + job->admin()),
              std::string::npos)
        << r.out;
  }
  // A ready file whose broker is not the one answering on its admin endpoint (it outlived its
  // broker, another took the port): one line and status 1, not the other broker's status.
  const std::string stale = a.path("stale.ready");
  write_file(stale, "{\"admin\":\"" + b.admin() + "\",\"pid\":" + std::to_string(a.broker().pid()) +
                        "}\n");
  CommandRun r = run_command(a, {CONVEYOR_CTL_BIN, "status", "--ready-file", stale});
  EXPECT_EQ(r.status, 1);
  EXPECT_EQ(lines(r.err), 1u) << r.err;
  EXPECT_NE(r.err.find("pid " + std::to_string(b.broker().pid()) + " answers"), std::string::npos)
      << r.err;
  EXPECT_TRUE(r.out.empty()) << r.out;
}

TEST(CtlStatus, AReadyFileThatCannotBeUsedIsOneLine) {
  Cluster job;
  write_file(job.path("no-admin.ready"), R"({"frontend":"tcp://127.0.0.1:1","admin":"","pid":1})");
  const std::vector<std::pair<std::vector<std::string>, int>> cases = {
      {{"--ready-file", job.path("missing.ready")}, 1},
      {{"--ready-file", job.path("no-admin.ready")}, 1},
      {{"--ready-file", job.dir()}, 1},
      {{"--ready-file", job.path("no-admin.ready"), "--broker", "tcp://127.0.0.1:1"}, 2},
      {{"--interval", "2s"}, 2},  // without --watch
      {{"--watch", "--interval", "0"}, 2},
  };
  for (const auto& [flags, expected] : cases) {
    std::vector<std::string> argv = {CONVEYOR_CTL_BIN, "status"};
    argv.insert(argv.end(), flags.begin(), flags.end());
    const CommandRun r = run_command(job, argv);
    EXPECT_EQ(r.status, expected) << flags[0] << ": " << r.err;
    EXPECT_EQ(lines(r.err), 1u) << r.err;
    EXPECT_NE(r.err.find("conveyor-ctl: error: "), std::string::npos) << r.err;
  }
}

// How many refreshes a --watch has written so far: tables counted by their first line, JSON by
// its lines (each one whole object).
std::size_t refreshes(const std::string& out, bool json) {
  std::istringstream in(out);
  std::size_t n = 0;
  for (std::string line; std::getline(in, line);) {
    if (json) {
      n += nlohmann::json::parse(line, nullptr, false).is_object() ? 1 : 0;
    } else {
      n += line.rfind("state ", 0) == 0 ? 1 : 0;
    }
  }
  return n;
}

TEST(CtlStatus, WatchRefreshesUntilASignalThenExitsZero) {
  Cluster job;
  job.start_broker();
  const std::string ready = job.path("broker.ready");
  for (auto [json, signo] : {std::pair{false, SIGTERM}, std::pair{true, SIGINT}}) {
    const std::string name = json ? "watch-json" : "watch";
    std::vector<std::string> argv = {CONVEYOR_CTL_BIN, "status",       "--watch", "--interval",
                                     "200ms",          "--ready-file", ready};
    if (json) argv.push_back("--json");
    Process& watch = job.start(name, argv);
    EXPECT_TRUE(
        wait_until([&] { return refreshes(read_file(job.path(name + ".out")), json) >= 2; }, 20s))
        << read_file(job.path(name + ".out")) << read_file(job.path(name + ".log"));
    watch.signal(signo);
    EXPECT_EQ(watch.wait(10s), 0) << name << ": " << read_file(job.path(name + ".log"));
    // Not a terminal: blocks (or lines) one after another, no escape codes.
    EXPECT_EQ(read_file(job.path(name + ".out")).find('\x1b'), std::string::npos);
  }
  job.broker().signal(SIGTERM);
  EXPECT_EQ(job.broker().wait(20s), 0) << job.log("broker");
}

TEST(CtlStatus, WatchEndsWithStatusOneOnceTheBrokerStopsAnswering) {
  Cluster job;
  job.start_broker();
  Process& watch = job.start("watch", {CONVEYOR_CTL_BIN, "status", "--watch", "--interval", "100ms",
                                       "--timeout", "500ms", "--broker", job.admin()});
  ASSERT_TRUE(
      wait_until([&] { return refreshes(read_file(job.path("watch.out")), false) >= 1; }, 20s))
      << read_file(job.path("watch.log"));
  job.broker().signal(SIGTERM);
  EXPECT_EQ(job.broker().wait(20s), 0) << job.log("broker");
  EXPECT_EQ(watch.wait(10s), 1);
  EXPECT_EQ(lines(read_file(job.path("watch.log"))), 1u) << read_file(job.path("watch.log"));
}

}  // namespace
}  // namespace conveyor::testing
