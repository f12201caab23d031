#include "producer/producer.hpp"

#include <unistd.h>

#include <csignal>

#include "common/cli.hpp"
#include "common/codec.hpp"
#include "common/logging.hpp"
#include "common/sockets.hpp"
#include "common/task.hpp"
#include "producer/metrics.hpp"

namespace conveyor::producer {
namespace {

constexpr std::size_t kReceiveBudget = 1024;
// Metrics are copied this often, off the per-task path; a scrape sees them at most this late.
constexpr Duration kMetricsPeriod = milliseconds(250);

Config with_defaults(Config config) {
  if (config.id.empty()) config.id = default_peer_id("producer");
  if (!is_valid_peer_id(config.id)) {
    throw StartupError("invalid --id '" + config.id + "': 1-64 characters of A-Z a-z 0-9 . _ -");
  }
  if (config.window == 0) throw StartupError("--window must be at least 1");
  return config;
}

SessionConfig session_config(const Config& config) {
  return SessionConfig{config.id, config.window, config.connect_timeout, config.reconnect_timeout,
                       config.broker};
}

ResultsFile open_results(const std::string& path) {
  try {
    return ResultsFile(path);
  } catch (const std::exception& e) {
    throw StartupError(e.what());
  }
}

Status status_of(const wire::Result& result) {
  switch (result.status()) {
    case wire::OK:
      return Status::ok;
    case wire::DEAD:
      return Status::dead;
    default:
      return Status::failed;
  }
}

std::optional<ClientKeys> client_keys(const CurveConfig& curve) {
  try {
    return load_client_keys(curve);
  } catch (const KeyError& e) {
    throw StartupError(e.what());
  }
}

}  // namespace

Producer::Producer(Config config)
    : config_(with_defaults(std::move(config))),
      signals_({SIGINT, SIGTERM}),
      context_(1),
      keys_(client_keys(config_.curve)),
      session_(session_config(config_), Clock::now()),
      results_(open_results(config_.results)),
      progress_(config_.id, config_.quiet, ::isatty(STDERR_FILENO) == 1, Clock::now()) {
  ignore_sigpipe();
  try {
    metrics_ = metrics::start_exporter(config_.metrics, logger("producer"));
  } catch (const metrics::ExporterError& e) {
    throw StartupError(e.what());
  }
}

Producer::~Producer() {
  if (reader_) reader_->stop();
}

void Producer::set_source(std::unique_ptr<Source> source) {
  source_ = std::move(source);
}

void Producer::on_result(std::function<void(const Outcome&)> callback) {
  on_result_ = std::move(callback);
}

int Producer::run() {
  if (!source_) throw std::logic_error("Producer::run() needs set_source() first");
  reader_ = std::make_unique<SourceReader>(context_, std::move(source_));
  connect();
  loop_.watch(reader_->socket(), [this] { on_source_batch(); });
  loop_.watch(signals_.fd(), [this] { on_signal(); });
  loop_.every(milliseconds(50), [this] { session_.on_tick(Clock::now()); });
  if (metrics_) loop_.every(kMetricsPeriod, [this] { publish_metrics(); });
  loop_.after_each_round([this] { round(); });
  round();  // sends the hello and the first source request before the first poll
  loop_.run();
  return finish();
}

void Producer::publish_metrics() {
  if (metrics_) metrics_->publish(producer_metrics(session_, config_.window));
}

void Producer::connect() {
  if (monitor_) {
    loop_.unwatch(monitor_->socket());
    monitor_.reset();
  }
  if (socket_) {
    loop_.unwatch(*socket_);
    socket_->set(zmq::sockopt::linger, 0);  // what it still holds is sent again anyway
    socket_.reset();
  }
  SocketOptions options;
  options.max_message_bytes = 1ll << 30;
  if (keys_)
    options.curve = SocketOptions::Curve{keys_->public_key, keys_->secret_key, keys_->server_key};
  socket_.emplace(make_dealer(context_, options));
  monitor_.emplace(context_, *socket_);
  loop_.watch(monitor_->socket(), [this] { on_handshake_event(); });
  try {
    socket_->connect(config_.broker);
  } catch (const zmq::error_t& e) {
    throw StartupError("cannot connect to --broker " + config_.broker + ": " + e.what());
  }
  loop_.watch(*socket_, [this] { receive(); });
  session_.on_connect(Clock::now());
}

void Producer::on_handshake_event() {
  while (auto event = monitor_->next()) {
    if (event->event == ZMQ_EVENT_HANDSHAKE_SUCCEEDED) {
      session_.on_handshake_succeeded();
    } else if (auto cause =
                   describe_handshake_failure(*event, "--producer-keys", keys_.has_value())) {
      logger("producer")->debug("handshake with the broker failed: {}", *cause);
      session_.on_handshake_failure(std::move(*cause));
    }
  }
}

void Producer::receive() {
  for (std::size_t n = 0; n < kReceiveBudget; ++n) {
    zmq::message_t frame;
    if (!socket_->recv(frame, zmq::recv_flags::dontwait)) return;
    if (auto error = decoder_.decode(frame.to_string_view(), std::size_t{1} << 30)) {
      logger("producer")->warn("ignoring a bad message from the broker: {}", to_string(*error));
      continue;
    }
    session_.on_envelope(decoder_.envelope(), Clock::now());
  }
}

void Producer::on_source_batch() {
  while (auto batch = reader_->take()) {
    for (auto& payload : batch->payloads)
      session_.add_task(std::move(payload));
    if (!batch->error.empty()) {
      source_error_ = batch->error;
      logger("producer")
          ->error("the source failed after {} tasks: {}", session_.counts().produced, batch->error);
    }
    if (batch->end || stop_reading_by_) session_.end_of_source();
  }
}

void Producer::on_signal() {
  while (auto signo = signals_.read()) {
    auto log = logger("producer");
    if (!stop_reading_by_ && !session_.source_ended()) {
      log->info("{}: no more reading from the source; the pill follows the {} tasks read",
                signal_name(*signo), session_.counts().produced);
      stop_reading_by_ = Clock::now() + milliseconds(200);
      if (!reader_->busy()) session_.end_of_source();
    } else {
      log->warn("{} again: stopping now with {} tasks without a final result", signal_name(*signo),
                session_.unfinished());
      forced_exit_ = 128 + *signo;
      loop_.stop();
      return;
    }
  }
}

void Producer::feed_source(TimePoint now) {
  if (session_.source_ended()) return;
  if (stop_reading_by_) {
    // Stopping: wait briefly for a batch already being read, then stop the reader outright.
    if (!reader_->busy() || now >= *stop_reading_by_) {
      reader_->stop();
      session_.end_of_source();
    }
    return;
  }
  const std::size_t room = session_.source_room();
  // Ask in sizeable chunks when busy; at once when idle, so a slow source is not held back.
  if (!reader_->busy() && room > 0 && (room >= config_.window / 16 || session_.unfinished() == 0)) {
    reader_->request(room);
  }
}

void Producer::round() {
  const TimePoint now = Clock::now();
  feed_source(now);
  write_results();  // before the acks leave: a result is on disk before the broker forgets it
  session_.flush(now);
  send_outbox();
  if (session_.wants_new_connection()) connect();
  progress_.update(session_.counts(), reader_->size_hint(), now);
  if (!write_error_.empty() || session_.phase() == Session::Phase::done ||
      session_.phase() == Session::Phase::failed) {
    send_outbox();
    loop_.stop();
  }
}

void Producer::write_results() {
  auto& finished = session_.finished();
  if (finished.empty()) return;
  try {
    for (const auto& result : finished) {
      results_.write(config_.id, result);
      if (on_result_) {
        on_result_(Outcome{result.seq(), status_of(result), result.output(), result.error(),
                           result.consumer(), result.attempts()});
      }
    }
    results_.flush();
  } catch (const std::exception& e) {
    write_error_ = e.what();
  }
  finished.clear();
}

void Producer::send_outbox() {
  auto& outbox = session_.outbox();
  for (auto& envelope : outbox) {
    zmq::message_t frame = encode(envelope);
    if (!socket_->send(frame, zmq::send_flags::dontwait)) {
      // The pipe to the broker is full: treat it as a broken connection and start over.
      logger("producer")->warn("the connection to the broker is congested; reconnecting");
      outbox.clear();
      connect();
      return;
    }
  }
  outbox.clear();
}

int Producer::finish() {
  if (reader_) reader_->stop();
  const TimePoint now = Clock::now();
  if (config_.summary) progress_.finish(session_.counts(), now);
  publish_metrics();
  if (forced_exit_ != 0) return forced_exit_;
  if (!write_error_.empty()) {
    print_error("conveyor-producer", write_error_);
    return 1;
  }
  if (session_.phase() == Session::Phase::failed) {
    socket_->set(zmq::sockopt::linger, 0);  // nobody is listening: do not wait to deliver
    print_error("conveyor-producer", session_.failure());
    return 1;
  }
  if (!source_error_.empty()) {
    print_error("conveyor-producer", "the source failed: " + source_error_);
    return 1;
  }
  return 0;
}

}  // namespace conveyor::producer
