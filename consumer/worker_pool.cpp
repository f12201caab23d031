#include "conveyor/consumer/worker_pool.hpp"

#include <cassert>

#include "conveyor/common/sockets.hpp"
#include "conveyor/common/text.hpp"

namespace conveyor::consumer {

namespace {

// The handler's verdict on the wire: a failure may ask for a retry later or say it timed out.
void set_outcome(Report& result, Result outcome) {
  if (outcome.is_ok()) {
    result.status = wire::OK;
    result.output = outcome.take_output();
    return;
  }
  result.status = wire::FAILED;
  result.retry = outcome.kind() == Result::Kind::retry;
  result.timed_out = outcome.kind() == Result::Kind::timed_out;
  // Result.error is a protobuf string: invalid UTF-8 would make the whole batch unparsable.
  result.error = to_valid_utf8(outcome.error());
}

}  // namespace

namespace {

// Each line of the output, as tasks for the next stage (a last empty line is none).
void emit_output_lines(const std::string& output, std::vector<std::string>& emitted) {
  std::size_t start = 0;
  while (start < output.size()) {
    const std::size_t end = std::min(output.find('\n', start), output.size());
    emitted.push_back(output.substr(start, end - start));
    start = end + 1;
  }
}

}  // namespace

Report run_handler(const Handler& handler, const Delivery& task, std::optional<TimePoint> deadline,
                   bool emit_lines) {
  Report result;
  result.producer = task.producer();
  result.seq = task.seq();
  result.attempts = task.attempt();  // the delivery it answers: the broker checks it
  try {
    set_outcome(result, handler(Task(task, deadline, &result.emit)));
    if (emit_lines && result.ok()) emit_output_lines(result.output, result.emit);
  } catch (const std::exception& e) {
    result.status = wire::FAILED;
    result.error = to_valid_utf8(std::string("handler threw: ") + e.what());
  } catch (...) {
    result.status = wire::FAILED;
    result.error = "handler threw a non-standard exception";
  }
  return result;
}

WorkerPool::WorkerPool(std::size_t size, Handler handler) : handler_(std::move(handler)) {
  for (std::size_t i = 0; i < size; ++i) {
    const std::string endpoint = unique_inproc_endpoint("conveyor-worker");
    auto worker =
        std::make_unique<Worker>(Worker{zmq::socket_t(context_, zmq::socket_type::pair), {}});
    worker->socket.set(zmq::sockopt::linger, 0);
    worker->socket.bind(endpoint);
    zmq::socket_t peer(context_, zmq::socket_type::pair);
    peer.set(zmq::sockopt::linger, 0);
    peer.connect(endpoint);
    worker->thread = std::thread(&WorkerPool::serve, std::move(peer), std::cref(handler_));
    workers_.push_back(std::move(worker));
    idle_.push_back(i);
  }
}

WorkerPool::~WorkerPool() {
  stop();
}

void WorkerPool::submit(std::unique_ptr<WorkBatch> batch) {
  assert(!idle_.empty());
  const std::size_t i = idle_.back();
  idle_.pop_back();
  send_owned(workers_[i]->socket, std::move(batch));
}

std::unique_ptr<WorkBatch> WorkerPool::collect(std::size_t i) {
  auto batch = receive_owned<WorkBatch>(workers_[i]->socket, zmq::recv_flags::dontwait);
  if (batch) idle_.push_back(i);
  return batch;
}

void WorkerPool::stop() {
  if (stopped_) return;
  stopped_ = true;
  for (auto& worker : workers_)
    worker->socket.send(zmq::message_t(), zmq::send_flags::none);
  for (auto& worker : workers_) {
    if (worker->thread.joinable()) worker->thread.join();
  }
}

void WorkerPool::abandon() {
  stopped_ = true;
  for (auto& worker : workers_) {
    if (worker->thread.joinable()) worker->thread.detach();
  }
}

void WorkerPool::serve(zmq::socket_t socket, const Handler& handler) {
  while (true) {
    auto batch = receive_owned<WorkBatch>(socket);
    if (!batch) break;  // the pill
    const auto start = std::chrono::steady_clock::now();
    batch->results.reserve(batch->tasks.size());
    for (const auto& task : batch->tasks) {
      std::optional<TimePoint> deadline;
      if (batch->timeout) deadline = Clock::now() + *batch->timeout;
      batch->results.push_back(run_handler(handler, task, deadline, batch->emit_lines));
    }
    batch->elapsed = std::chrono::steady_clock::now() - start;
    send_owned(socket, std::move(batch));
  }
}

}  // namespace conveyor::consumer
