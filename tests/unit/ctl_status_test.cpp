// conveyor-ctl status without a broker: the ready file it reads, the check that the broker which
// answers wrote it, and how --watch writes each refresh.
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>

#include "conveyor/ctl/ready_file.hpp"
#include "conveyor/ctl/watch.hpp"

namespace conveyor::ctl {
namespace {

const std::string kPath = "/run/b.ready";

TEST(ReadyFile, TheAdminEndpointAndPidOfWhatTheBrokerWrites) {
  const auto file =
      parse_ready_file(R"({"frontend":"tcp://127.0.0.1:4001","backend":"tcp://127.0.0.1:4002",)"
                       R"("admin":"tcp://127.0.0.1:4003","pid":4242})"
                       "\n",
                       kPath);
  ASSERT_TRUE(file) << file.error();
  EXPECT_EQ(file->admin, "tcp://127.0.0.1:4003");
  EXPECT_EQ(file->pid, 4242);
  const auto no_pid = parse_ready_file(R"({"admin":"ipc:///tmp/a"})", kPath);
  ASSERT_TRUE(no_pid);
  EXPECT_EQ(no_pid->pid, 0);
}

TEST(ReadyFile, WhatIsNotOneIsOneLineNamingTheFlagAndFile) {
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"", "not a broker's ready file"},
      {"not json", "not a broker's ready file"},
      {"[1, 2]", "not a broker's ready file"},
      {R"({"frontend":"tcp://x:1"})", "no \"admin\""},
      {R"({"admin":5})", "no \"admin\""},
      {R"({"admin":"","pid":3})", "no admin endpoint in it (its broker runs with --admin '')"},
      {std::string(70000, ' '), "too large"},
  };
  for (const auto& [text, why] : cases) {
    const auto file = parse_ready_file(text, kPath);
    ASSERT_FALSE(file) << text;
    EXPECT_EQ(file.error().rfind("--ready-file " + kPath + ": ", 0), 0u) << file.error();
    EXPECT_NE(file.error().find(why), std::string::npos) << file.error();
    EXPECT_EQ(file.error().find('\n'), std::string::npos) << file.error();
  }
}

TEST(ReadyFile, AMissingOrUnreadableFileSaysWhy) {
  const auto dir = std::filesystem::temp_directory_path() /
                   ("conveyor-ready-test-" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  const auto missing = read_ready_file((dir / "nope").string());
  ASSERT_FALSE(missing);
  EXPECT_NE(missing.error().find("cannot read it: No such file or directory"), std::string::npos)
      << missing.error();
  const auto directory = read_ready_file(dir.string());
  ASSERT_FALSE(directory);
  EXPECT_NE(directory.error().find("cannot read it: Is a directory"), std::string::npos)
      << directory.error();
  std::ofstream(dir / "ok") << R"({"admin":"tcp://127.0.0.1:9","pid":7})";
  const auto ok = read_ready_file((dir / "ok").string());
  ASSERT_TRUE(ok) << ok.error();
  EXPECT_EQ(ok->admin, "tcp://127.0.0.1:9");
  std::filesystem::remove_all(dir);
}

wire::StatusReply answered_by(std::int64_t pid) {
  wire::StatusReply reply;
  reply.mutable_broker()->set_pid(pid);
  return reply;
}

TEST(ReadyFile, AnotherBrokerAnsweringIsAnErrorNotItsStatus) {
  const ReadyFile file{"tcp://127.0.0.1:4003", 4242};
  EXPECT_EQ(wrong_broker(file, answered_by(4242), kPath), std::nullopt);
  const auto wrong = wrong_broker(file, answered_by(999), kPath);
  ASSERT_TRUE(wrong);
  EXPECT_NE(wrong->find("pid 4242"), std::string::npos) << *wrong;
  EXPECT_NE(wrong->find("pid 999 answers on tcp://127.0.0.1:4003"), std::string::npos) << *wrong;
  // A side that does not say (an older broker, a file without a pid) is no evidence either way.
  EXPECT_EQ(wrong_broker(file, answered_by(0), kPath), std::nullopt);
  EXPECT_EQ(wrong_broker(ReadyFile{"tcp://x:1", 0}, answered_by(999), kPath), std::nullopt);
}

TEST(WatchFrame, ATerminalIsRedrawnInPlaceLineByLine) {
  const auto output = watch_output(/*json=*/false, /*terminal=*/true);
  EXPECT_EQ(output, WatchOutput::redraw);
  EXPECT_EQ(watch_frame(output, "a\nbb\n", /*first=*/true),
            "\x1b[2J\x1b[H"
            "a\x1b[K\nbb\x1b[K\n\x1b[J");
  EXPECT_EQ(watch_frame(output, "a\n", /*first=*/false), "\x1b[Ha\x1b[K\n\x1b[J");
}

TEST(WatchFrame, ElsewhereEachRefreshIsABlockWithoutEscapes) {
  const auto output = watch_output(false, false);
  EXPECT_EQ(output, WatchOutput::blocks);
  EXPECT_EQ(watch_frame(output, "a\nb\n", true), "a\nb\n");
  EXPECT_EQ(watch_frame(output, "a\nb\n", false), "\na\nb\n");
}

TEST(WatchFrame, JsonIsOneLinePerRefreshEvenOnATerminal) {
  for (bool terminal : {true, false}) {
    const auto output = watch_output(true, terminal);
    EXPECT_EQ(output, WatchOutput::lines);
    EXPECT_EQ(watch_frame(output, "{\"a\":1}\n", false), "{\"a\":1}\n");
  }
}

TEST(WatchWait, AReadableDescriptorEndsTheWaitAtOnce) {
  int fds[2];
  ASSERT_EQ(::pipe(fds), 0);
  EXPECT_FALSE(wait_readable(fds[0], milliseconds(0)));
  EXPECT_FALSE(wait_readable(fds[0], -milliseconds(5)));  // a refresh already late: only a look
  ASSERT_EQ(::write(fds[1], "x", 1), 1);
  EXPECT_TRUE(wait_readable(fds[0], std::chrono::hours(1)));
  ::close(fds[0]);
  ::close(fds[1]);
}

}  // namespace
}  // namespace conveyor::ctl
