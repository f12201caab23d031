// The executables' command-line contract (DESIGN.md section 6): --help, CONVEYOR_* variables, one
// clear line and a non-zero status for bad flags or an unreachable broker.
#include <gtest/gtest.h>

#include <algorithm>
#include <csignal>
#include <filesystem>

#include "support/cluster.hpp"

namespace conveyor::testing {
namespace {

std::size_t lines(const std::string& text) {
  return static_cast<std::size_t>(std::count(text.begin(), text.end(), '\n'));
}

TEST(Cli, EveryExecutableExplainsItselfWithHelp) {
  Cluster job;
  for (const char* bin : {CONVEYOR_BROKER_BIN, CONVEYOR_PRODUCER_BIN, CONVEYOR_CONSUMER_BIN}) {
    const CommandRun r = run_command(job, {bin, "--help"});
    EXPECT_EQ(r.status, 0) << bin;
    EXPECT_NE(r.out.find("CONVEYOR_LOG_LEVEL"), std::string::npos) << r.out;
    EXPECT_NE(r.out.find("--log-level"), std::string::npos);
  }
  EXPECT_NE(run_command(job, {CONVEYOR_BROKER_BIN, "--help"}).out.find("--queue-capacity"),
            std::string::npos);
  EXPECT_NE(run_command(job, {CONVEYOR_PRODUCER_BIN, "--help"}).out.find("gen:COUNT"),
            std::string::npos);
  EXPECT_NE(run_command(job, {CONVEYOR_CONSUMER_BIN, "--help"}).out.find("exec:COMMAND"),
            std::string::npos);
}

TEST(Cli, BadFlagsGiveOneClearLineAndStatusTwo) {
  Cluster job;
  const std::vector<std::vector<std::string>> cases = {
      {CONVEYOR_BROKER_BIN, "--queue-capacity", "zero"},
      {CONVEYOR_BROKER_BIN, "--no-such-flag"},
      {CONVEYOR_PRODUCER_BIN, "--source", "nope:1"},
      {CONVEYOR_PRODUCER_BIN, "--source", "gen:ten"},
      {CONVEYOR_PRODUCER_BIN},
      {CONVEYOR_CONSUMER_BIN, "--handler", "teleport"},
      {CONVEYOR_CONSUMER_BIN, "--handler", "echo", "--connect-timeout", "soon"},
      {CONVEYOR_BROKER_BIN, "--log-level", "loud"},
  };
  for (const auto& argv : cases) {
    const CommandRun r = run_command(job, argv);
    EXPECT_EQ(r.status, 2) << argv[1] << ": " << r.err;
    EXPECT_EQ(lines(r.err), 1u) << r.err;
    EXPECT_NE(r.err.find(": error: "), std::string::npos) << r.err;
  }
}

TEST(Cli, EnvironmentVariablesSetFlagsAndTheCommandLineWins) {
  Cluster job;
  // An invalid value in the environment is reported like a bad flag...
  CommandRun r = run_command(job, {CONVEYOR_BROKER_BIN}, {{"CONVEYOR_QUEUE_CAPACITY", "lots"}});
  EXPECT_EQ(r.status, 2);
  EXPECT_NE(r.err.find("queue-capacity"), std::string::npos) << r.err;
  // ...and a valid flag on the command line wins over it.
  r = run_command(job,
                  {CONVEYOR_BROKER_BIN, "--frontend", "tcp://127.0.0.1:*", "--backend",
                   "tcp://127.0.0.1:*", "--queue-capacity", "7", "--log-level", "info", "--help"},
                  {{"CONVEYOR_QUEUE_CAPACITY", "lots"}});
  EXPECT_EQ(r.status, 0) << r.err;
  // A valid variable is used: the broker's status shows the capacity it took from it.
  const std::string ready = job.path("envbroker.ready");
  Process& broker =
      job.start("envbroker",
                {CONVEYOR_BROKER_BIN, "--frontend", "tcp://127.0.0.1:*", "--backend",
                 "tcp://127.0.0.1:*", "--ready-file", ready},
                {{"CONVEYOR_QUEUE_CAPACITY", "1234"}, {"CONVEYOR_ADMIN", "tcp://127.0.0.1:*"}});
  ASSERT_TRUE(wait_until([&] { return std::filesystem::exists(ready); }, 10s))
      << job.log("envbroker");
  const auto status = broker_status(ready_file_admin(ready));
  ASSERT_TRUE(status) << job.log("envbroker");
  EXPECT_EQ(status->queue_capacity(), 1234u) << describe(status);
  broker.signal(SIGTERM);
  EXPECT_EQ(broker.wait(10s), 0);
}

TEST(Cli, AnUnreachableBrokerIsAClearErrorAfterTheConnectTimeout) {
  Cluster job;
  for (const char* bin : {CONVEYOR_PRODUCER_BIN, CONVEYOR_CONSUMER_BIN}) {
    std::vector<std::string> argv = {bin, "--broker", "tcp://127.0.0.1:9", "--connect-timeout",
                                     "500ms"};
    if (std::string(bin) == CONVEYOR_PRODUCER_BIN) {
      argv.insert(argv.end(), {"--source", "gen:1", "--quiet"});
    } else {
      argv.insert(argv.end(), {"--handler", "echo"});
    }
    const CommandRun r = run_command(job, argv, {{"CONVEYOR_LOG_LEVEL", "error"}});
    EXPECT_EQ(r.status, 1) << bin << ": " << r.err;
    EXPECT_NE(r.err.find("--connect-timeout"), std::string::npos) << r.err;
  }
}

TEST(Cli, APortInUseIsOneLineAndStatusOne) {
  Cluster job;
  job.start_broker();
  const CommandRun r = run_command(
      job, {CONVEYOR_BROKER_BIN, "--frontend", job.frontend(), "--backend", "tcp://127.0.0.1:*"});
  EXPECT_EQ(r.status, 1);
  EXPECT_NE(r.err.find("cannot bind --frontend"), std::string::npos) << r.err;
  EXPECT_EQ(lines(r.err), 1u) << r.err;
}

}  // namespace
}  // namespace conveyor::testing
