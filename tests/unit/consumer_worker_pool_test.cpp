// WorkerPool and run_handler: real worker threads over inproc sockets; every wait has a deadline.
#include "conveyor/consumer/worker_pool.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <mutex>
#include <stdexcept>
#include <string>

#include "conveyor/common/clock.hpp"

namespace conveyor::consumer {
namespace {

using ::testing::ElementsAre;

constexpr auto kDeadline = std::chrono::seconds(10);

Delivery make_task(std::uint64_t seq, std::string payload) {
  wire::Task task;
  task.set_producer("p1");
  task.set_seq(seq);
  task.set_attempt(1);
  task.set_payload(std::move(payload));
  return Delivery::copy_of(std::move(task));
}

std::unique_ptr<WorkBatch> batch_of(std::uint64_t id, std::vector<std::string> payloads) {
  auto batch = std::make_unique<WorkBatch>();
  batch->id = id;
  for (std::size_t i = 0; i < payloads.size(); ++i)
    batch->tasks.push_back(make_task(id * 100 + i, payloads[i]));
  return batch;
}

// The next finished batch from any worker, or nullptr when none arrives within `limit`.
std::unique_ptr<WorkBatch> await_batch(WorkerPool& pool, Duration limit = kDeadline) {
  const TimePoint until = Clock::now() + limit;
  std::vector<zmq::pollitem_t> items;
  for (std::size_t i = 0; i < pool.size(); ++i)
    items.push_back(zmq::pollitem_t{pool.socket(i).handle(), 0, ZMQ_POLLIN, 0});
  while (Clock::now() < until) {
    zmq::poll(items, std::chrono::ceil<milliseconds>(until - Clock::now()));
    for (std::size_t i = 0; i < items.size(); ++i) {
      if (items[i].revents & ZMQ_POLLIN) {
        if (auto batch = pool.collect(i)) return batch;
      }
    }
  }
  return nullptr;
}

Handler throws_on(const std::string& bad) {
  return [bad](const Task& task) {
    if (task.payload() == bad) throw std::runtime_error("cannot digest " + bad);
    return Result::ok("ok:" + std::string(task.payload()));
  };
}

TEST(RunHandler, TurnsAnOkResultIntoAnOkReport) {
  const Delivery task = make_task(4, "x");
  const Report result = run_handler(throws_on("bad"), task);
  EXPECT_EQ(result.producer, "p1");
  EXPECT_EQ(result.seq, 4u);
  EXPECT_EQ(result.status, wire::OK);
  EXPECT_EQ(result.output, "ok:x");
  EXPECT_EQ(result.error, "");
}

TEST(RunHandler, TurnsAFailedResultIntoAFailedReport) {
  const Delivery task = make_task(5, "x");
  const Report result = run_handler([](const Task&) { return Result::failed("not today"); }, task);
  EXPECT_EQ(result.status, wire::FAILED);
  EXPECT_EQ(result.error, "not today");
}

TEST(RunHandler, TurnsAnExceptionIntoAFailedResultWithItsText) {
  const Delivery task = make_task(6, "bad");
  const Report result = run_handler(throws_on("bad"), task);
  EXPECT_EQ(result.seq, 6u);
  EXPECT_EQ(result.status, wire::FAILED);
  EXPECT_EQ(result.error, "handler threw: cannot digest bad");
}

TEST(RunHandler, TurnsANonStandardExceptionIntoAFailedResult) {
  const Delivery task = make_task(7, "x");
  const Report result = run_handler([](const Task&) -> Result { throw 42; }, task);
  EXPECT_EQ(result.status, wire::FAILED);
  EXPECT_EQ(result.error, "handler threw a non-standard exception");
}

TEST(WorkerPool, RunsABatchAndReturnsResultsInTaskOrder) {
  WorkerPool pool(2, throws_on("bad"));
  EXPECT_EQ(pool.size(), 2u);
  EXPECT_EQ(pool.idle(), 2u);
  pool.submit(batch_of(1, {"a", "b", "c"}));
  EXPECT_EQ(pool.idle(), 1u);
  auto done = await_batch(pool);
  ASSERT_NE(done, nullptr);
  EXPECT_EQ(done->id, 1u);
  ASSERT_EQ(done->results.size(), 3u);
  EXPECT_EQ(done->results[0].output, "ok:a");
  EXPECT_EQ(done->results[1].output, "ok:b");
  EXPECT_EQ(done->results[2].output, "ok:c");
  EXPECT_EQ(pool.idle(), 2u);
}

TEST(WorkerPool, AThrowingHandlerFailsItsTaskAndThePoolKeepsWorking) {
  WorkerPool pool(1, throws_on("bad"));
  pool.submit(batch_of(1, {"good", "bad", "fine"}));
  auto first = await_batch(pool);
  ASSERT_NE(first, nullptr);
  ASSERT_EQ(first->results.size(), 3u);
  EXPECT_EQ(first->results[0].status, wire::OK);
  EXPECT_EQ(first->results[1].status, wire::FAILED);
  EXPECT_EQ(first->results[1].error, "handler threw: cannot digest bad");
  EXPECT_EQ(first->results[2].status, wire::OK) << "the rest of the batch still runs";
  pool.submit(batch_of(2, {"again"}));
  auto second = await_batch(pool);
  ASSERT_NE(second, nullptr) << "the same worker serves the next batch";
  ASSERT_EQ(second->results.size(), 1u);
  EXPECT_EQ(second->results[0].output, "ok:again");
}

TEST(WorkerPool, EveryWorkerServesAtOnce) {
  // Each handler waits until all four run: this passes only with four threads in parallel.
  std::mutex mutex;
  std::condition_variable all_in;
  int running = 0;
  WorkerPool pool(4, [&](const Task& task) {
    std::unique_lock lock(mutex);
    ++running;
    all_in.notify_all();
    if (!all_in.wait_for(lock, kDeadline, [&] { return running == 4; })) {
      return Result::failed("alone");
    }
    return Result::ok(std::string(task.payload()));
  });
  for (std::uint64_t id = 1; id <= 4; ++id)
    pool.submit(batch_of(id, {"t" + std::to_string(id)}));
  EXPECT_EQ(pool.idle(), 0u);
  std::vector<std::uint64_t> ids;
  for (int i = 0; i < 4; ++i) {
    auto done = await_batch(pool);
    ASSERT_NE(done, nullptr);
    ASSERT_EQ(done->results.size(), 1u);
    EXPECT_EQ(done->results[0].status, wire::OK) << done->results[0].error;
    ids.push_back(done->id);
  }
  std::sort(ids.begin(), ids.end());
  EXPECT_THAT(ids, ElementsAre(1u, 2u, 3u, 4u));
}

TEST(WorkerPool, StopLetsSubmittedWorkFinishAndJoinsEveryWorker) {
  std::atomic<int> handled{0};
  WorkerPool pool(3, [&handled](const Task&) {
    ++handled;
    return Result::ok();
  });
  for (std::uint64_t id = 1; id <= 3; ++id)
    pool.submit(batch_of(id, {"x", "y"}));
  pool.stop();  // one pill per worker, queued behind its batch; returns once all have exited
  EXPECT_EQ(handled.load(), 6);
  pool.stop();  // a second stop is harmless
  for (std::size_t i = 0; i < pool.size(); ++i) {
    while (pool.collect(i)) {  // free the finished batches
    }
  }
}

}  // namespace
}  // namespace conveyor::consumer
