// WorkerPool: N threads running the handler, each fed by the I/O loop over its own inproc PAIR
// socket. A batch goes only to an idle worker, so the loop always knows what runs where and what
// has not started. Each worker stops on its own pill (an empty message): one pill per worker,
// the asyncio pattern done right.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <thread>
#include <vector>

#include <zmq.hpp>

#include "conveyor/common/delivery.hpp"
#include "conveyor/consumer/handlers.hpp"
#include "conveyor/consumer/report.hpp"
#include "conveyor/proto/conveyor.pb.h"

namespace conveyor::consumer {

// A batch crossing to a worker and back: tasks out, results (same order) and time spent back.
struct WorkBatch {
  std::uint64_t id = 0;
  std::vector<Delivery> tasks;
  std::optional<Duration> timeout;  // --task-timeout: each task's deadline from its start
  bool emit_lines = false;          // --emit-to with a built-in or exec: handler
  std::vector<Report> results;
  std::chrono::nanoseconds elapsed{0};
};

// Runs `handler` on `task` (due by `deadline`), turning an exception into a `failed` result. The
// tasks it emits go with the result; with `emit_lines`, so does every line of its output (the
// built-in and exec: handlers emit that way).
Report run_handler(const Handler& handler, const Delivery& task,
                   std::optional<TimePoint> deadline = std::nullopt, bool emit_lines = false);

class WorkerPool {
 public:
  // The pool's inproc sockets live in a context of their own: a stop-now exit abandons threads
  // stuck in a handler, and their open sockets must not hold up closing the network's context.
  WorkerPool(std::size_t size, Handler handler);
  ~WorkerPool();
  WorkerPool(const WorkerPool&) = delete;
  WorkerPool& operator=(const WorkerPool&) = delete;

  std::size_t size() const { return workers_.size(); }
  std::size_t idle() const { return idle_.size(); }
  // Hands a batch to an idle worker. Precondition: idle() > 0.
  void submit(std::unique_ptr<WorkBatch> batch);
  // The loop watches these; collect(i) returns the batch worker i finished.
  zmq::socket_t& socket(std::size_t i) { return workers_[i]->socket; }
  std::unique_ptr<WorkBatch> collect(std::size_t i);
  // One pill per worker, then joins them all. Call when none is busy, or wait for their work.
  void stop();
  // For a stop-now exit: the threads may be inside a handler and cannot be joined.
  void abandon();

 private:
  struct Worker {
    zmq::socket_t socket;
    std::thread thread;
  };
  static void serve(zmq::socket_t socket, const Handler& handler);

  Handler handler_;
  zmq::context_t context_{0};  // inproc only: no I/O thread
  std::vector<std::unique_ptr<Worker>> workers_;
  std::vector<std::size_t> idle_;
  bool stopped_ = false;
};

}  // namespace conveyor::consumer
