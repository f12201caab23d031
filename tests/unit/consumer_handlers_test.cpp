// Handlers: echo, sha256, sleep and exec (real child processes), and --handler parsing.
#include "conveyor/consumer/handlers.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <stdexcept>
#include <string>

#include "conveyor/common/signals.hpp"
#include "conveyor/consumer/subprocess.hpp"

namespace conveyor::consumer {
namespace {

using ::testing::HasSubstr;
using ::testing::StartsWith;

Result run(const Handler& handler, const std::string& payload) {
  wire::Task task;
  task.set_producer("p1");
  task.set_seq(0);
  task.set_payload(payload);
  return handler(Task(task));
}

// The message make_handler throws for `spec`, or "" when it does not throw.
std::string make_handler_error(const std::string& spec) {
  try {
    make_handler(spec);
  } catch (const std::invalid_argument& e) {
    return e.what();
  }
  return "";
}

// exec commands that stop reading their stdin early: the Consumer ignores SIGPIPE so that the
// write fails with EPIPE instead of killing the process, and so must this test.
class ExecHandler : public ::testing::Test {
 protected:
  static void SetUpTestSuite() { ignore_sigpipe(); }
};

TEST(Sha256Handler, HashesAbcToTheFips180Digest) {
  const Result result = run(sha256_handler(), "abc");
  ASSERT_TRUE(result.is_ok());
  EXPECT_EQ(result.output(), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
}

TEST(Sha256Handler, HashesTheEmptyPayload) {
  EXPECT_EQ(sha256_hex(""), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
}

TEST(EchoHandler, ReturnsThePayloadByteForByte) {
  const std::string payload("bin\0ary\xff", 8);
  const Result result = run(echo_handler(), payload);
  ASSERT_TRUE(result.is_ok());
  EXPECT_EQ(result.output(), payload);
}

TEST(SleepHandler, SleepZeroEchoesAtOnce) {
  const Result result = run(make_handler("sleep:0"), "nap");
  ASSERT_TRUE(result.is_ok());
  EXPECT_EQ(result.output(), "nap");
}

TEST_F(ExecHandler, GivesThePayloadOnStdinAndReturnsStdout) {
  const Result result = run(make_handler("exec:tr a-z A-Z"), "hello, world\n");
  ASSERT_TRUE(result.is_ok()) << result.error();
  EXPECT_EQ(result.output(), "HELLO, WORLD\n");
}

TEST_F(ExecHandler, AnEmptyPayloadIsAnEmptyStdin) {
  const Result result = run(make_handler("exec:wc -c"), "");
  ASSERT_TRUE(result.is_ok()) << result.error();
  EXPECT_EQ(result.output(), "0\n");
}

TEST_F(ExecHandler, ANonZeroExitFailsWithTheStatusAndStderr) {
  const Result result = run(make_handler("exec:echo 'no such thing' >&2; exit 3"), "x");
  ASSERT_FALSE(result.is_ok());
  EXPECT_EQ(result.error(), "exit status 3: no such thing");
}

TEST_F(ExecHandler, DeathBySignalFailsNamingTheSignal) {
  const Result result = run(make_handler("exec:kill -9 $$"), "x");
  ASSERT_FALSE(result.is_ok());
  EXPECT_THAT(result.error(), StartsWith("killed by signal 9"));
}

TEST_F(ExecHandler, KeepsOnlyTheEndOfALongStderr) {
  const CommandResult run =
      run_command("head -c 100000 /dev/zero | tr '\\0' e >&2; echo LAST >&2; exit 1", "");
  EXPECT_EQ(run.exit_status, 1);
  const std::string text = run.describe_failure();
  EXPECT_THAT(text, StartsWith("exit status 1: eee"));
  EXPECT_THAT(text, ::testing::EndsWith("eLAST"));
  EXPECT_LE(text.size(), 4096u + 20u);
}

TEST_F(ExecHandler, ALargeStdinAndALargeStdoutDoNotDeadlock) {
  // cat writes back while we are still writing: both pipes fill unless serviced together.
  std::string payload(5'000'000, 'z');
  for (std::size_t i = 0; i < payload.size(); i += 1000)
    payload[i] = '\n';
  const Result result = run(make_handler("exec:cat"), payload);
  ASSERT_TRUE(result.is_ok()) << result.error();
  EXPECT_EQ(result.output(), payload);
}

TEST_F(ExecHandler, ACommandThatIgnoresALargeStdinAndWritesALotDoesNotDeadlock) {
  const Result result =
      run(make_handler("exec:head -c 5000000 /dev/zero"), std::string(5'000'000, 'i'));
  ASSERT_TRUE(result.is_ok()) << result.error();
  EXPECT_EQ(result.output(), std::string(5'000'000, '\0'));
}

TEST(MakeHandler, ErrorsNameTheProblem) {
  EXPECT_THAT(make_handler_error("sleep:"), HasSubstr("sleep:MS needs milliseconds, got ''"));
  EXPECT_THAT(make_handler_error("sleep:abc"), HasSubstr("got 'abc'"));
  EXPECT_THAT(make_handler_error("sleep:10ms"), HasSubstr("got '10ms'"));
  EXPECT_THAT(make_handler_error("sleep:-1"), HasSubstr("got '-1'"));
  EXPECT_THAT(make_handler_error("sleep:99999999999"), HasSubstr("got '99999999999'"));
  EXPECT_THAT(make_handler_error("exec:"), HasSubstr("exec:COMMAND needs a command"));
  EXPECT_THAT(make_handler_error("md5"), HasSubstr("unknown handler 'md5'"));
  EXPECT_THAT(make_handler_error(""), HasSubstr("unknown handler ''"));
}

TEST(MakeHandler, AcceptsEveryDocumentedSpec) {
  EXPECT_EQ(make_handler_error("echo"), "");
  EXPECT_EQ(make_handler_error("sha256"), "");
  EXPECT_EQ(make_handler_error("sleep:25"), "");
  EXPECT_EQ(make_handler_error("exec:cat"), "");
  EXPECT_EQ(run(make_handler("sha256"), "abc").output(), sha256_hex("abc"));
}

}  // namespace
}  // namespace conveyor::consumer
