#include "conveyor/producer/producer.hpp"

#include <unistd.h>

#include "conveyor/common/cli.hpp"
#include "conveyor/common/logging.hpp"
#include "conveyor/producer/metrics.hpp"

namespace conveyor::producer {
namespace {

using namespace std::chrono_literals;

Config with_defaults(Config config) {
  config.id = checked_client_id(config.id, "producer");
  if (config.window == 0) throw StartupError("--window must be at least 1");
  return config;
}

SessionConfig session_config(const Config& config) {
  return SessionConfig{link_config(config), config.window, config.allow_failures};
}

// The results file, replaced; or with --resume, read first (the session learns what is done)
// and appended to.
ResultsFile open_results(const Config& config, Session& session) {
  if (config.resume && (config.results.empty() || config.results == "-")) {
    throw UsageError("--resume needs --results PATH: it reads what an earlier run wrote there");
  }
  try {
    if (config.resume) session.resume(read_resume_point(config.results, config.id));
    return ResultsFile(config.results, config.resume);
  } catch (const std::exception& e) {
    throw StartupError(e.what());
  }
}

Status status_of(const ResultView& result) {
  switch (result.status) {
    case wire::OK:
      return Status::ok;
    case wire::DEAD:
      return Status::dead;
    default:
      return Status::failed;
  }
}

}  // namespace

Producer::Producer(Config config)
    : config_(with_defaults(std::move(config))),
      runtime_(config_, "producer"),
      session_(session_config(config_), Clock::now()),
      results_(open_results(config_, session_)),
      progress_(config_.id, config_.quiet, ::isatty(STDERR_FILENO) == 1, Clock::now()) {}

Producer::~Producer() {
  if (reader_) reader_->stop();
}

void Producer::set_source(std::unique_ptr<Source> source) {
  if (config_.resume && !source->restartable()) {
    throw UsageError(
        "--resume: the source cannot be read again from its start (stdin, lines:-); --resume "
        "needs lines:PATH, gen:COUNT or a source that gives the same tasks in the same order");
  }
  source_ = std::move(source);
}

void Producer::on_result(std::function<void(const Outcome&)> callback) {
  on_result_ = std::move(callback);
}

int Producer::run() {
  if (!source_) throw std::logic_error("Producer::run() needs set_source() first");
  reader_ = std::make_unique<SourceReader>(runtime_.context(), std::move(source_));
  runtime_.loop().watch(reader_->socket(), [this] { on_source_batch(); });
  ClientHooks hooks;
  hooks.before_flush = [this](TimePoint now) {
    feed_source(now);
    write_results();  // before the acks leave: a result is on disk before the broker forgets it
  };
  hooks.after_round = [this](TimePoint now) {
    progress_.update(session_.counts(), reader_->size_hint(), now);
  };
  hooks.publish_metrics = [this] { publish_metrics(); };
  runtime_.run(session_, std::move(hooks));
  return finish();
}

void Producer::publish_metrics() {
  runtime_.publish(producer_metrics(session_, config_.window));
}

void Producer::on_source_batch() {
  while (auto batch = reader_->take())
    session_.on_source_batch(*batch);
}

void Producer::feed_source(TimePoint now) {
  const SourcePlan plan = session_.plan_source(reader_->busy(), now);
  if (plan.stop_reader) reader_->stop();
  if (plan.request > 0) reader_->request(plan.request);
}

void Producer::write_results() {
  auto& finished = session_.finished_results();
  if (finished.empty()) return;
  try {
    for (const auto& result : finished) {
      results_.write(config_.id, result);
      if (on_result_) {
        on_result_(Outcome{result.seq, status_of(result), result.output, result.error,
                           result.consumer, result.attempts});
      }
    }
    results_.flush();
  } catch (const std::exception& e) {
    session_.fail(e.what());
  }
  finished.clear();
}

int Producer::finish() {
  reader_.reset();  // stops its thread, and its socket closes before the context
  if (config_.summary) progress_.finish(session_.counts(), Clock::now());
  publish_metrics();
  if (auto forced = runtime_.forced_exit()) return *forced;
  const int status = session_.exit_status();
  if (status != 0) print_error("conveyor-producer", session_.failure());
  // A goodbye is a courtesy; a failed session has nobody to deliver to.
  runtime_.close(session_.phase() == Session::Phase::failed ? 0ms : 250ms, status);
  return status;
}

}  // namespace conveyor::producer
