// Command-line conventions: CONVEYOR_* variables for every flag (the command line wins), durations.
#include "conveyor/common/cli.hpp"

#include <gtest/gtest.h>

#include <cstdlib>
#include <string>
#include <vector>

namespace conveyor {
namespace {

// Sets an environment variable for the scope of a test.
class ScopedEnv {
 public:
  ScopedEnv(std::string name, const std::string& value) : name_(std::move(name)) {
    ::setenv(name_.c_str(), value.c_str(), 1);
  }
  ~ScopedEnv() { ::unsetenv(name_.c_str()); }

 private:
  std::string name_;
};

// An app with a few typical flags, each bound to its variable.
struct TestApp {
  TestApp() {
    app.add_option("--queue-capacity", queue_capacity, "tasks held");
    app.add_option("--broker", broker, "where");
    app.add_flag("--exit-when-drained", exit_when_drained, "leave after the drain");
    add_duration_option(app, "--connect-timeout", connect_timeout, "how long to wait");
    bind_environment(app);
  }
  std::optional<int> parse(std::vector<const char*> args) {
    args.insert(args.begin(), "conveyor-test");
    return parse_command_line(app, static_cast<int>(args.size()), args.data());
  }

  CLI::App app{"test", "conveyor-test"};
  int queue_capacity = 100;
  std::string broker = "tcp://localhost:5555";
  bool exit_when_drained = false;
  Duration connect_timeout = milliseconds(10000);
};

TEST(Cli, EnvironmentNameIsConveyorAndTheFlagInUpperCase) {
  EXPECT_EQ(environment_name("queue-capacity"), "CONVEYOR_QUEUE_CAPACITY");
  EXPECT_EQ(environment_name("--queue-capacity"), "CONVEYOR_QUEUE_CAPACITY");
  EXPECT_EQ(environment_name("id"), "CONVEYOR_ID");
}

TEST(Cli, AnEnvironmentVariableSetsAFlag) {
  ScopedEnv capacity("CONVEYOR_QUEUE_CAPACITY", "7");
  ScopedEnv broker("CONVEYOR_BROKER", "tcp://elsewhere:1");
  ScopedEnv drained("CONVEYOR_EXIT_WHEN_DRAINED", "true");
  ScopedEnv timeout("CONVEYOR_CONNECT_TIMEOUT", "250ms");
  TestApp test;
  EXPECT_EQ(test.parse({}), std::nullopt);
  EXPECT_EQ(test.queue_capacity, 7);
  EXPECT_EQ(test.broker, "tcp://elsewhere:1");
  EXPECT_TRUE(test.exit_when_drained);
  EXPECT_EQ(test.connect_timeout, milliseconds(250));
}

TEST(Cli, TheCommandLineWinsOverTheVariable) {
  ScopedEnv capacity("CONVEYOR_QUEUE_CAPACITY", "7");
  ScopedEnv timeout("CONVEYOR_CONNECT_TIMEOUT", "250ms");
  TestApp test;
  EXPECT_EQ(test.parse({"--queue-capacity", "9", "--connect-timeout", "2s"}), std::nullopt);
  EXPECT_EQ(test.queue_capacity, 9);
  EXPECT_EQ(test.connect_timeout, milliseconds(2000));
}

TEST(Cli, WithoutFlagOrVariableTheDefaultStays) {
  TestApp test;
  EXPECT_EQ(test.parse({}), std::nullopt);
  EXPECT_EQ(test.queue_capacity, 100);
  EXPECT_EQ(test.connect_timeout, milliseconds(10000));
}

TEST(Cli, ABadVariableIsABadFlag) {
  ScopedEnv capacity("CONVEYOR_QUEUE_CAPACITY", "lots");
  TestApp test;
  EXPECT_EQ(test.parse({}), 2);
}

TEST(Cli, ABadDurationIsABadFlag) {
  TestApp test;
  EXPECT_EQ(test.parse({"--connect-timeout", "soon"}), 2);
}

TEST(Cli, TheHelpFlagHasNoVariable) {
  ScopedEnv help("CONVEYOR_HELP", "1");
  TestApp test;
  EXPECT_EQ(test.parse({}), std::nullopt);
}

TEST(Cli, AnUnknownFlagIsExitStatusTwo) {
  TestApp test;
  EXPECT_EQ(test.parse({"--no-such-flag"}), 2);
}

TEST(ParseDuration, ABareNumberIsMilliseconds) {
  EXPECT_EQ(parse_duration("3000"), milliseconds(3000));
  EXPECT_EQ(parse_duration("0"), milliseconds(0));
  EXPECT_EQ(parse_duration("1.5"), std::chrono::microseconds(1500));
}

TEST(ParseDuration, ReadsEveryUnit) {
  EXPECT_EQ(parse_duration("10s"), milliseconds(10000));
  EXPECT_EQ(parse_duration("250ms"), milliseconds(250));
  EXPECT_EQ(parse_duration("2m"), milliseconds(120000));
  EXPECT_EQ(parse_duration("2min"), milliseconds(120000));
  EXPECT_EQ(parse_duration("1h"), milliseconds(3600000));
  EXPECT_EQ(parse_duration("0.5ms"), std::chrono::microseconds(500));
}

TEST(ParseDuration, RejectsGarbage) {
  EXPECT_EQ(parse_duration(""), std::nullopt);
  EXPECT_EQ(parse_duration("soon"), std::nullopt);
  EXPECT_EQ(parse_duration("ms"), std::nullopt);
  EXPECT_EQ(parse_duration("10x"), std::nullopt);
  EXPECT_EQ(parse_duration("10 s"), std::nullopt);
  EXPECT_EQ(parse_duration("10sec"), std::nullopt);
  EXPECT_EQ(parse_duration("-5s"), std::nullopt);
}

TEST(ParseDuration, RejectsDurationsThatAreNotFiniteOrTooLong) {
  EXPECT_EQ(parse_duration("inf"), std::nullopt);
  EXPECT_EQ(parse_duration("nan"), std::nullopt);
  EXPECT_EQ(parse_duration("1e300"), std::nullopt);
  EXPECT_EQ(parse_duration("1e7h"), std::nullopt);  // past what a steady_clock duration holds
}

}  // namespace
}  // namespace conveyor
