// PipePool: real worker processes (small Python and sh programs) behind non-blocking pipes, driven
// by an EventLoop; every wait has a deadline.
#include "conveyor/consumer/pipe_pool.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <map>

#include "conveyor/common/errors.hpp"
#include "conveyor/common/task.hpp"
#include "conveyor/common/text.hpp"

namespace conveyor::consumer {
namespace {

using ::testing::HasSubstr;

// A worker in Python: answers each task with its payload reversed, or as `behaviour` says.
std::string python_worker(const std::string& behaviour = "") {
  return "python3 -u -c '\n"
         "import json, sys, time, os\n"
         "for line in sys.stdin:\n"
         "    t = json.loads(line)\n"
         "    p = t[\"payload\"]\n" +
         behaviour +
         "    print(json.dumps({\"id\": t[\"id\"], \"output\": p[::-1]}), flush=True)\n"
         "'";
}

std::unique_ptr<WorkBatch> batch_for(std::uint64_t seq, const std::string& payload) {
  auto batch = std::make_unique<WorkBatch>();
  batch->id = seq + 1;
  wire::Task task;
  task.set_producer("p1");
  task.set_seq(seq);
  task.set_attempt(1);
  task.set_payload(payload);
  batch->tasks.push_back(Delivery::copy_of(std::move(task)));
  return batch;
}

// Runs `pool` on a loop until `expected` batches came back or 20 s passed; those batches by seq.
class PoolRun {
 public:
  explicit PoolRun(PipePool& pool) : pool_(pool) {
    pool_.attach(loop_, [this](std::unique_ptr<WorkBatch> batch) {
      order_.push_back(batch->id);
      const auto seq = batch->tasks.front().seq();
      done_[seq] = std::move(batch);
      if (order_.size() >= expected_) loop_.stop();
    });
  }
  // Runs the loop until the pool can take work again (a restarted worker); false after 20 s.
  bool wait_idle() {
    const auto timer = loop_.every(milliseconds(10), [this] {
      if (pool_.idle() > 0) loop_.stop();
    });
    loop_.after(std::chrono::seconds(20), [this] { loop_.stop(); });
    loop_.run();
    loop_.cancel(timer);
    return pool_.idle() > 0;
  }
  const std::vector<std::uint64_t>& order() const { return order_; }
  std::map<std::uint64_t, std::unique_ptr<WorkBatch>>& run(std::size_t expected) {
    expected_ = expected;
    loop_.after(std::chrono::seconds(20), [this] { loop_.stop(); });
    if (order_.size() < expected_) loop_.run();
    return done_;
  }
  EventLoop& loop() { return loop_; }

 private:
  PipePool& pool_;
  EventLoop loop_;
  std::size_t expected_ = 0;
  std::vector<std::uint64_t> order_;  // batch ids, as they came back
  std::map<std::uint64_t, std::unique_ptr<WorkBatch>> done_;
};

const Report& result_of(std::map<std::uint64_t, std::unique_ptr<WorkBatch>>& done,
                        std::uint64_t seq) {
  return done.at(seq)->results.at(0);
}

TEST(PipePool, EachProcessHoldsItsShareAndEveryTaskIsAnswered) {
  PipePool pool(PipeConfig{python_worker(), 2, 3, std::nullopt});
  PoolRun run(pool);
  EXPECT_EQ(pool.idle(), 6u);
  for (std::uint64_t seq = 0; seq < 6; ++seq)
    pool.submit(batch_for(seq, "abc" + std::to_string(seq)));
  EXPECT_EQ(pool.idle(), 0u);
  auto& done = run.run(6);
  ASSERT_EQ(done.size(), 6u);
  for (std::uint64_t seq = 0; seq < 6; ++seq) {
    EXPECT_EQ(result_of(done, seq).status, wire::OK);
    EXPECT_EQ(result_of(done, seq).output, std::to_string(seq) + "cba");
    EXPECT_EQ(result_of(done, seq).attempts, 1u);
  }
  EXPECT_EQ(pool.idle(), 6u);
  pool.stop();
}

TEST(PipePool, AnswersInAnyOrderAreMatchedById) {
  // It answers the second task it is given first.
  const std::string command =
      "python3 -u -c '\n"
      "import json, sys\n"
      "a = json.loads(sys.stdin.readline()); b = json.loads(sys.stdin.readline())\n"
      "for t in (b, a): print(json.dumps({\"id\": t[\"id\"], \"output\": t[\"payload\"]}), "
      "flush=True)\n"
      "sys.stdin.read()\n'";
  PipePool pool(PipeConfig{command, 1, 2, std::nullopt});
  PoolRun run(pool);
  pool.submit(batch_for(0, "zero"));
  pool.submit(batch_for(1, "one"));
  auto& done = run.run(2);
  EXPECT_EQ(result_of(done, 0).output, "zero");
  EXPECT_EQ(result_of(done, 1).output, "one");
  pool.stop();
}

TEST(PipePool, AWorkerThatDiesLosesNothingItsTasksEndAsLostAndItIsRestarted) {
  PipePool pool(
      PipeConfig{python_worker("    if p == \"die\": os._exit(9)\n"), 1, 2, std::nullopt});
  PoolRun run(pool);
  pool.submit(batch_for(0, "die"));
  auto& done = run.run(1);
  ASSERT_EQ(done.size(), 1u);
  const auto& lost = result_of(done, 0);
  EXPECT_EQ(lost.status, wire::FAILED);
  EXPECT_TRUE(lost.lost) << "the broker gives it out again";
  EXPECT_THAT(lost.error, HasSubstr("pipe worker 1"));
  ASSERT_TRUE(run.wait_idle());
  pool.submit(batch_for(1, "live"));
  EXPECT_EQ(result_of(run.run(2), 1).output, "evil") << "the restarted worker serves";
  EXPECT_EQ(pool.restarts(), 1u);
  pool.stop();
}

TEST(PipePool, ALineThatIsNotAnAnswerRestartsTheWorker) {
  PipePool pool(PipeConfig{python_worker("    if p == \"junk\": print(\"junk\", flush=True)\n"), 1,
                           1, std::nullopt});
  PoolRun run(pool);
  pool.submit(batch_for(0, "junk"));
  auto& done = run.run(1);
  EXPECT_TRUE(result_of(done, 0).lost);
  EXPECT_THAT(result_of(done, 0).error, HasSubstr("not an answer"));
  EXPECT_EQ(pool.restarts(), 1u);
  pool.stop();
}

// The error of a task a worker lost carries bytes the worker wrote; it goes to the broker in a
// protobuf string, so it must be UTF-8 or libprotobuf refuses the consumer's whole result batch.
TEST(PipePool, AnErrorQuotingBytesThatAreNotUtf8IsStillUtf8) {
  PipePool pool(PipeConfig{
      python_worker("    if p == \"junk\": sys.stdout.buffer.write(b\"\\xff\\xfe junk\\n\"); "
                    "sys.stdout.flush()\n"),
      1, 1, std::nullopt});
  PoolRun run(pool);
  pool.submit(batch_for(0, "junk"));
  const auto& lost = result_of(run.run(1), 0);
  EXPECT_THAT(lost.error, HasSubstr("not an answer"));
  EXPECT_THAT(lost.error, HasSubstr("junk"));
  EXPECT_TRUE(is_valid_utf8(lost.error)) << lost.error;
  pool.stop();
}

TEST(PipePool, AStderrTailCutShortEndsBetweenCharacters) {
  // 1,000 euro signs are 3,000 bytes: the kept 2,048 would end inside the 683rd.
  PipePool pool(
      PipeConfig{python_worker("    if p == \"die\": sys.stderr.buffer.write((\"\\u20ac\" * 1000 "
                               "+ \"\\n\").encode()); sys.stderr.flush(); os._exit(9)\n"),
                 1, 1, std::nullopt});
  PoolRun run(pool);
  pool.submit(batch_for(0, "die"));
  const auto& lost = result_of(run.run(1), 0);
  EXPECT_TRUE(is_valid_utf8(lost.error)) << lost.error;
  std::string euros;
  for (int i = 0; i < 682; ++i)
    euros += "\xE2\x82\xAC";
  EXPECT_THAT(lost.error, HasSubstr(": " + euros)) << "the tail stays euro signs, not Latin-1";
  pool.stop();
}

TEST(PipePool, ATaskPastItsTimeoutIsTimedOutAndItsWorkerKilled) {
  PipePool pool(PipeConfig{python_worker("    if p == \"hang\": time.sleep(600)\n"), 1, 2,
                           milliseconds(300)});
  PoolRun run(pool);
  const auto started = Clock::now();
  pool.submit(batch_for(0, "hang"));
  // Given later, so still within its own timeout when the hung task's has passed.
  run.loop().after(milliseconds(150), [&] { pool.submit(batch_for(1, "mate")); });
  auto& done = run.run(2);
  EXPECT_LT(Clock::now() - started, std::chrono::seconds(5));
  EXPECT_TRUE(result_of(done, 0).timed_out);
  EXPECT_THAT(result_of(done, 0).error, HasSubstr("timed out after 300 ms"));
  EXPECT_TRUE(result_of(done, 1).lost) << "its batch-mate goes back, not lost for good";
  pool.stop();
}

TEST(PipePool, ACommandThatCannotRunIsAStartupErrorWithItsStatusAndStderr) {
  try {
    PipePool pool(PipeConfig{"no-such-worker-conveyor", 2, 1, std::nullopt});
    FAIL() << "it started";
  } catch (const StartupError& e) {
    EXPECT_THAT(e.what(), HasSubstr("exit status 127"));
    EXPECT_THAT(e.what(), HasSubstr("not found"));
  }
}

TEST(PipePool, ASecondDeliveryOfATaskStillRunningWaitsForTheFirst) {
  PipePool pool(PipeConfig{python_worker(), 2, 2, std::nullopt});
  PoolRun run(pool);
  pool.submit(batch_for(0, "first"));
  auto again = batch_for(0, "again");
  again->id = 99;
  pool.submit(std::move(again));
  run.run(2);
  EXPECT_EQ(run.order(), (std::vector<std::uint64_t>{1, 99}));
  pool.stop();
}

}  // namespace
}  // namespace conveyor::consumer
