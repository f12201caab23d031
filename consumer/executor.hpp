// Executor: where a consumer's work runs. The session decides what runs and when; an executor
// runs it and hands each finished WorkBatch back on the I/O thread, through the event loop it
// watches. Two kinds: WorkerPool (threads calling a C++ handler) and PipePool (worker processes
// speaking JSON lines, for handlers in any language).
#pragma once

#include <cstddef>
#include <functional>
#include <memory>

#include "conveyor/common/event_loop.hpp"
#include "conveyor/consumer/worker_pool.hpp"

namespace conveyor::consumer {

class Executor {
 public:
  using Done = std::function<void(std::unique_ptr<WorkBatch>)>;

  virtual ~Executor() = default;

  // Registers what it waits on with `loop`; `done` gets every finished batch, on the loop's thread.
  virtual void attach(EventLoop& loop, Done done) = 0;
  // Batches it can take now, and tasks in one batch at most.
  virtual std::size_t idle() const = 0;
  virtual std::size_t max_batch() const = 0;
  // Precondition: idle() > 0.
  virtual void submit(std::unique_ptr<WorkBatch> batch) = 0;
  // The orderly end, when nothing runs: lets threads or processes finish and waits for them.
  virtual void stop() = 0;
  // A stop-now exit: threads stuck in a handler are left behind, processes killed.
  virtual void abandon() = 0;
};

// The threads of a WorkerPool as an Executor.
class ThreadExecutor final : public Executor {
 public:
  ThreadExecutor(std::size_t threads, Handler handler) : pool_(threads, std::move(handler)) {}

  void attach(EventLoop& loop, Done done) override;
  std::size_t idle() const override { return pool_.idle(); }
  std::size_t max_batch() const override;
  void submit(std::unique_ptr<WorkBatch> batch) override { pool_.submit(std::move(batch)); }
  void stop() override { pool_.stop(); }
  void abandon() override { pool_.abandon(); }

 private:
  WorkerPool pool_;
};

}  // namespace conveyor::consumer
