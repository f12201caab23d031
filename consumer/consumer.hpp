// consumer::Consumer: the C++ API of a consumer, and the socket shell around consumer::Session.
//
//   consumer::Consumer c{config};
//   c.on_task([](const Task& t) { return Result::ok(parse(t.payload())); });
//   return c.run();   // 0 after the broker's pill (or SIGTERM) and an orderly goodbye
//
// The handler runs on `concurrency` worker threads fed by the I/O loop. SIGINT/SIGTERM stop taking
// tasks, hand unstarted ones back, finish running ones and exit 0; a second signal exits at once
// (the broker requeues what was held) with status 128 + signal.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>

#include "conveyor/common/client_config.hpp"
#include "conveyor/common/client_runtime.hpp"
#include "conveyor/common/errors.hpp"
#include "conveyor/consumer/executor.hpp"
#include "conveyor/consumer/handlers.hpp"
#include "conveyor/consumer/session.hpp"

namespace conveyor::consumer {

struct Config : ClientConfig {
  Config() { broker = "tcp://localhost:5556"; }
  std::size_t concurrency = 0;  // worker threads; 0: one per CPU
  // Tasks held beyond those running, so a worker never waits for the network; 0 holds only what
  // runs (a slow or dangerous task never waits behind another). Unset: auto (AutoPrefetch).
  std::optional<std::size_t> prefetch;
  // --task-timeout: a task running longer is stopped (exec: its process group killed) and ends as
  // a failed delivery; a C++ handler sees it as task.deadline(). Unset: no limit.
  std::optional<Duration> task_timeout;
  // pipe: handlers: worker processes (unset: --concurrency, one task each at a time).
  std::optional<std::size_t> pipe_processes;
  // --emit-to: the queue the handler's emitted tasks go to (empty: none).
  std::string emit_to;
  // With emit_to: every line of a built-in or exec: handler's output is an emitted task.
  bool emit_output_lines = false;
};

class Consumer {
 public:
  // Throws StartupError (a bad id or --concurrency, a metrics port in use).
  explicit Consumer(Config config);
  ~Consumer();

  // The handler; this or use_pipe() before run(). Called on worker threads (thread-safe, please).
  void on_task(Handler handler);
  // Tasks go to long-lived worker processes running `command` (pipe: handlers, any language).
  void use_pipe(std::string command);
  // Runs until the pill or a signal; returns the exit status.
  int run();

  const Counts& counts() const { return session_.counts(); }
  const std::string& id() const { return config_.id; }

 private:
  std::unique_ptr<Executor> make_executor();
  void hand_out_work(TimePoint now);
  std::unique_ptr<WorkBatch> spare_batch();
  void recycle(std::unique_ptr<WorkBatch> batch);
  void publish_metrics();
  [[noreturn]] void stop_now(int status);
  int finish();

  Config config_;
  ClientRuntime runtime_;  // first: it blocks the signals before any thread starts
  Session session_;
  Handler handler_;
  std::string pipe_command_;
  std::unique_ptr<Executor> executor_;
  // Finished batches, emptied, for the next ones: a batch's two vectors allocated afresh each
  // time were large allocations in both threads, and in the worker's they made glibc merge its
  // small free chunks each time (malloc_consolidate), so that the handler's output strings came
  // from the slow path. At most kSpareBatches, each holding at most kMaxWorkBatch tasks.
  static constexpr std::size_t kSpareBatches = 8;
  std::vector<std::unique_ptr<WorkBatch>> spare_batches_;
};

}  // namespace conveyor::consumer
