#include "conveyor/consumer/consumer.hpp"

#include <algorithm>
#include <thread>

#include "conveyor/common/cli.hpp"
#include "conveyor/common/logging.hpp"
#include "conveyor/consumer/metrics.hpp"
#include "conveyor/consumer/pipe_pool.hpp"

namespace conveyor::consumer {
namespace {

using namespace std::chrono_literals;

Config with_defaults(Config config) {
  config.id = checked_client_id(config.id, "consumer");
  if (config.concurrency == 0) {
    config.concurrency = std::max(1u, std::thread::hardware_concurrency());
  }
  if (config.concurrency > 4096) throw StartupError("--concurrency is at most 4096");
  if (config.prefetch && config.concurrency + *config.prefetch > 100000) {
    throw StartupError("--concurrency plus --prefetch is at most 100000");
  }
  if (!config.emit_to.empty() && !is_valid_peer_id(config.emit_to)) {
    throw UsageError("--emit-to '" + config.emit_to + "': 1-64 characters of A-Z a-z 0-9 . _ -");
  }
  if (config.pipe_processes &&
      (*config.pipe_processes == 0 || *config.pipe_processes > config.concurrency)) {
    throw UsageError("--pipe-processes is 1 to --concurrency (" +
                     std::to_string(config.concurrency) + "): each process takes a share of it");
  }
  return config;
}

SessionConfig session_config(const Config& config) {
  // --prefetch auto starts as deep as the pool and adapts once task times are known.
  const std::size_t prefetch = config.prefetch.value_or(config.concurrency);
  return SessionConfig{
      link_config(config), static_cast<std::uint32_t>(config.concurrency + prefetch),
      config.concurrency,  !config.prefetch.has_value(),
      config.task_timeout, config.emit_to};
}

}  // namespace

Consumer::Consumer(Config config)
    : config_(with_defaults(std::move(config))),
      runtime_(config_, "consumer"),
      session_(session_config(config_), Clock::now()) {}

Consumer::~Consumer() = default;

void Consumer::on_task(Handler handler) {
  handler_ = std::move(handler);
}

void Consumer::use_pipe(std::string command) {
  pipe_command_ = std::move(command);
}

std::unique_ptr<Executor> Consumer::make_executor() {
  if (handler_) return std::make_unique<ThreadExecutor>(config_.concurrency, handler_);
  if (pipe_command_.empty()) throw std::logic_error("Consumer::run() needs on_task() first");
  // --concurrency tasks in all, shared by the processes: each takes its part at a time.
  const std::size_t processes = config_.pipe_processes.value_or(config_.concurrency);
  const std::size_t per_process = (config_.concurrency + processes - 1) / processes;
  return std::make_unique<PipePool>(
      PipeConfig{pipe_command_, processes, per_process, config_.task_timeout});
}

int Consumer::run() {
  executor_ = make_executor();  // before connecting: a pipe: command that cannot run stops here
  executor_->attach(runtime_.loop(), [this](std::unique_ptr<WorkBatch> batch) {
    session_.on_done(batch->id, batch->results, batch->elapsed);
    recycle(std::move(batch));
  });
  ClientHooks hooks;
  hooks.before_flush = [this](TimePoint now) { hand_out_work(now); };
  hooks.publish_metrics = [this] { publish_metrics(); };
  runtime_.run(session_, std::move(hooks));
  if (auto forced = runtime_.forced_exit()) stop_now(*forced);
  return finish();
}

void Consumer::publish_metrics() {
  const double handler_seconds = session_.handler_times().seconds_per_task();
  runtime_.publish(consumer_metrics({config_.id, config_.concurrency, handler_seconds}, session_));
}

void Consumer::hand_out_work(TimePoint now) {
  while (true) {
    std::unique_ptr<WorkBatch> batch = spare_batch();
    auto work = session_.next_work(executor_->idle(), now, executor_->max_batch(), &batch->tasks);
    if (!work) return recycle(std::move(batch));
    batch->id = work->id;
    batch->tasks = std::move(work->tasks);
    batch->timeout = config_.task_timeout;
    batch->emit_lines = config_.emit_output_lines;
    executor_->submit(std::move(batch));
  }
}

std::unique_ptr<WorkBatch> Consumer::spare_batch() {
  if (spare_batches_.empty()) return std::make_unique<WorkBatch>();
  std::unique_ptr<WorkBatch> batch = std::move(spare_batches_.back());
  spare_batches_.pop_back();
  return batch;
}

// Emptied at once: its tasks hold their frames, and its results (moved out, or dropped as stale
// by the session) may still hold strings.
void Consumer::recycle(std::unique_ptr<WorkBatch> batch) {
  if (spare_batches_.size() >= kSpareBatches) return;
  batch->id = 0;
  batch->tasks.clear();
  batch->results.clear();
  batch->elapsed = {};
  spare_batches_.push_back(std::move(batch));
}

void Consumer::stop_now(int status) {
  kill_running_commands();
  executor_->abandon();           // handlers cannot be interrupted: their threads are left behind
  runtime_.close(500ms, status);  // the goodbye that hands everything back goes out first
  std::_Exit(status);
}

int Consumer::finish() {
  const auto& counts = session_.counts();
  logger("consumer")
      ->info("{}: {} tasks: {} ok, {} failed, {} handed back", config_.id, counts.received,
             counts.ok, counts.failed, counts.handed_back);
  const int status = session_.exit_status();
  if (status != 0) print_error("conveyor-consumer", session_.failure());
  if (session_.stuck()) stop_now(status);  // a thread still in a handler cannot be joined
  executor_->stop();
  executor_.reset();
  publish_metrics();
  // The goodbye is a courtesy once the broker has pilled us (it may be gone already); a failed
  // session has nobody to deliver to.
  runtime_.close(session_.phase() == Session::Phase::failed ? 0ms : 250ms, status);
  return status;
}

}  // namespace conveyor::consumer
