// PipePool: the pipe: handler (DESIGN.md §7.3). `processes` long-lived worker processes, each
// `/bin/sh -c COMMAND`, each fed up to `per_process` tasks at a time as JSON lines on its stdin,
// answering on its stdout in any order (pipe_protocol.hpp); its stderr goes to the log.
//
// Every pipe is non-blocking and watched by the consumer's event loop: a slow worker fills only
// its own pipe, and what waits to be written is bounded by the tasks it holds. A worker that
// dies, writes a line that is not an answer, or holds a task past --task-timeout has its process
// group killed and is started again after a backoff (100 ms, doubling to 10 s); the tasks it held
// end as lost deliveries (the late one as timed out), which the broker gives out again.
#pragma once

#include <sys/types.h>

#include <cstddef>
#include <deque>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "conveyor/common/backoff.hpp"
#include "conveyor/common/clock.hpp"
#include "conveyor/consumer/executor.hpp"

namespace conveyor::consumer {

struct PipeConfig {
  std::string command;
  std::size_t processes = 1;
  std::size_t per_process = 1;  // tasks a process holds at once
  std::optional<Duration> task_timeout;
};

class PipePool final : public Executor {
 public:
  // How long a command may take to fail before startup is over: one that exits at once (a
  // command that is not found) is a StartupError, before any task is taken.
  static constexpr Duration kStartupCheck = milliseconds(300);

  // Starts the processes. Throws StartupError with the command's exit status and stderr.
  explicit PipePool(PipeConfig config);
  ~PipePool() override;

  void attach(EventLoop& loop, Done done) override;
  std::size_t idle() const override;
  std::size_t max_batch() const override { return 1; }
  void submit(std::unique_ptr<WorkBatch> batch) override;
  void stop() override;
  void abandon() override;

  std::size_t restarts() const { return restarts_; }  // for metrics and tests

 private:
  struct Worker;

  void start(Worker& worker);
  void check_startup();
  void give(Worker& worker, std::unique_ptr<WorkBatch> batch);
  void write_pending(Worker& worker);
  void read_answers(Worker& worker);
  void read_stderr(Worker& worker);
  void on_line(Worker& worker, std::string_view line);
  void check_timeouts(TimePoint now);
  // `late`: the tasks it held past --task-timeout (they end timed out, the others lost).
  void fail(Worker& worker, const std::string& why, const std::set<std::string>& late = {});
  void end_in_flight(Worker& worker, const std::string& why, const std::set<std::string>& late);
  void release_deferred();
  Worker* least_loaded();
  bool in_flight_anywhere(const std::string& id) const;

  PipeConfig config_;
  std::vector<std::unique_ptr<Worker>> workers_;
  std::deque<std::unique_ptr<WorkBatch>> deferred_;  // a task whose id is still in flight
  EventLoop* loop_ = nullptr;
  Done done_;
  bool stopping_ = false;
  std::size_t restarts_ = 0;
};

}  // namespace conveyor::consumer
