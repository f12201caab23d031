#include "consumer/consumer.hpp"

#include <algorithm>
#include <csignal>
#include <thread>

#include <spdlog/spdlog.h>

#include "common/cli.hpp"
#include "common/codec.hpp"
#include "common/logging.hpp"
#include "common/sockets.hpp"
#include "common/task.hpp"
#include "consumer/metrics.hpp"

namespace conveyor::consumer {
namespace {

using namespace std::chrono_literals;

constexpr std::size_t kReceiveBudget = 1024;
constexpr std::size_t kMaxWorkBatch = 256;
// Metrics are copied this often, off the per-task path; a scrape sees them at most this late.
constexpr Duration kMetricsPeriod = milliseconds(250);

Config with_defaults(Config config) {
  if (config.id.empty()) config.id = default_peer_id("consumer");
  if (!is_valid_peer_id(config.id)) {
    throw StartupError("invalid --id '" + config.id + "': 1-64 characters of A-Z a-z 0-9 . _ -");
  }
  if (config.concurrency == 0) {
    config.concurrency = std::max(1u, std::thread::hardware_concurrency());
  }
  if (config.concurrency > 4096) throw StartupError("--concurrency is at most 4096");
  if (config.prefetch && config.concurrency + *config.prefetch > 100000) {
    throw StartupError("--concurrency plus --prefetch is at most 100000");
  }
  return config;
}

SessionConfig session_config(const Config& config) {
  // --prefetch auto starts as deep as the pool and adapts once task times are known.
  const std::size_t prefetch = config.prefetch.value_or(config.concurrency);
  return SessionConfig{config.id, static_cast<std::uint32_t>(config.concurrency + prefetch),
                       config.connect_timeout, config.reconnect_timeout, config.broker};
}

std::optional<ClientKeys> client_keys(const CurveConfig& curve) {
  try {
    return load_client_keys(curve);
  } catch (const KeyError& e) {
    throw StartupError(e.what());
  }
}

}  // namespace

Consumer::Consumer(Config config)
    : config_(with_defaults(std::move(config))),
      signals_({SIGINT, SIGTERM}),
      context_(1),
      keys_(client_keys(config_.curve)),
      session_(session_config(config_), Clock::now()) {
  if (!config_.prefetch) auto_prefetch_.emplace(config_.concurrency);
  ignore_sigpipe();
  try {
    metrics_ = metrics::start_exporter(config_.metrics, logger("consumer"));
  } catch (const metrics::ExporterError& e) {
    throw StartupError(e.what());
  }
}

Consumer::~Consumer() = default;

void Consumer::on_task(Handler handler) {
  handler_ = std::move(handler);
}

int Consumer::run() {
  if (!handler_) throw std::logic_error("Consumer::run() needs on_task() first");
  pool_ = std::make_unique<WorkerPool>(context_, config_.concurrency, handler_);
  for (std::size_t i = 0; i < pool_->size(); ++i) {
    loop_.watch(pool_->socket(i), [this, i] { on_worker(i); });
  }
  connect();
  loop_.watch(signals_.fd(), [this] { on_signal(); });
  loop_.every(milliseconds(50), [this] { session_.on_tick(Clock::now()); });
  if (metrics_) loop_.every(kMetricsPeriod, [this] { publish_metrics(); });
  loop_.after_each_round([this] { round(); });
  round();
  loop_.run();
  return finish();
}

void Consumer::publish_metrics() {
  if (!metrics_) return;
  metrics_->publish(consumer_metrics({config_.id, config_.concurrency, task_seconds_}, session_));
}

void Consumer::connect() {
  if (monitor_) {
    loop_.unwatch(monitor_->socket());
    monitor_.reset();
  }
  if (socket_) {
    loop_.unwatch(*socket_);
    socket_->set(zmq::sockopt::linger, 0);
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

void Consumer::on_handshake_event() {
  while (auto event = monitor_->next()) {
    if (event->event == ZMQ_EVENT_HANDSHAKE_SUCCEEDED) {
      session_.on_handshake_succeeded();
    } else if (auto cause =
                   describe_handshake_failure(*event, "--consumer-keys", keys_.has_value())) {
      logger("consumer")->debug("handshake with the broker failed: {}", *cause);
      session_.on_handshake_failure(std::move(*cause));
    }
  }
}

void Consumer::receive() {
  for (std::size_t n = 0; n < kReceiveBudget; ++n) {
    zmq::message_t frame;
    if (!socket_->recv(frame, zmq::recv_flags::dontwait)) return;
    if (auto error = decoder_.decode(frame.to_string_view(), std::size_t{1} << 30)) {
      logger("consumer")->warn("ignoring a bad message from the broker: {}", to_string(*error));
      continue;
    }
    session_.on_envelope(decoder_.envelope(), Clock::now());
  }
}

void Consumer::on_worker(std::size_t i) {
  auto batch = pool_->collect(i);
  if (!batch) return;
  if (!batch->tasks.empty()) {
    const double per_task = std::chrono::duration<double>(batch->elapsed).count() /
                            static_cast<double>(batch->tasks.size());
    task_seconds_ = task_seconds_ == 0 ? per_task : 0.8 * task_seconds_ + 0.2 * per_task;
    if (auto_prefetch_) adapt_prefetch(*batch);
  }
  session_.on_done(batch->id, batch->results);
}

void Consumer::adapt_prefetch(const WorkBatch& batch) {
  std::size_t bytes = 0;
  for (const auto& task : batch.tasks)
    bytes += task.payload().size();
  auto_prefetch_->on_batch(batch.tasks.size(), bytes, batch.elapsed);
  if (auto capacity = auto_prefetch_->capacity_change()) {
    logger("consumer")
        ->info("--prefetch auto: holding up to {} tasks ({} workers, {:.1f} us/task)", *capacity,
               config_.concurrency, task_seconds_ * 1e6);
    session_.set_capacity(*capacity);
  }
}

void Consumer::on_signal() {
  while (auto signo = signals_.read()) {
    if (!session_.stopping()) {
      logger("consumer")->info("{}: finishing running tasks, then exiting", signal_name(*signo));
      session_.stop(Clock::now());
    } else {
      logger("consumer")
          ->warn("{} again: stopping now; the broker requeues what we held", signal_name(*signo));
      session_.abort(Clock::now());
      forced_exit_ = 128 + *signo;
      send_outbox();
      loop_.stop();
      return;
    }
  }
}

void Consumer::hand_out_work() {
  // Fast handlers get batches (fewer thread hand-offs); slow ones one task at a time, so that
  // tasks wait in our queue, where a stop can still hand them back, not behind a busy worker.
  const bool fast = task_seconds_ < 200e-6;
  while (pool_->idle() > 0 && session_.pending() > 0) {
    const std::size_t share = (session_.pending() + pool_->idle() - 1) / pool_->idle();
    Work work = session_.take_work(fast ? std::min(share, kMaxWorkBatch) : 1);
    auto batch = std::make_unique<WorkBatch>();
    batch->id = work.id;
    batch->tasks = std::move(work.tasks);
    pool_->submit(std::move(batch));
  }
}

void Consumer::round() {
  const TimePoint now = Clock::now();
  hand_out_work();
  session_.flush(now);
  send_outbox();
  if (session_.wants_new_connection()) connect();
  const auto phase = session_.phase();
  if (phase == Session::Phase::done || phase == Session::Phase::failed) loop_.stop();
}

void Consumer::send_outbox() {
  auto& outbox = session_.outbox();
  for (auto& envelope : outbox) {
    zmq::message_t frame = encode(envelope);
    if (!socket_->send(frame, zmq::send_flags::dontwait)) {
      logger("consumer")->warn("the connection to the broker is congested; reconnecting");
      outbox.clear();
      connect();
      return;
    }
  }
  outbox.clear();
}

int Consumer::finish() {
  const auto& counts = session_.counts();
  auto log = logger("consumer");
  if (forced_exit_ != 0) {
    kill_running_commands();
    pool_->abandon();
    socket_->close();  // linger: the goodbye goes out before we leave
    // Handlers cannot be interrupted; the process ends here without waiting for them.
    std::_Exit(forced_exit_);
  }
  pool_->stop();
  // The goodbye is a courtesy once the broker has pilled us (it may be gone already); a failed
  // session has nobody to deliver to.
  const bool failed = session_.phase() == Session::Phase::failed;
  publish_metrics();
  log->info("{}: {} tasks: {} ok, {} failed, {} handed back", config_.id, counts.received,
            counts.ok, counts.failed, counts.handed_back);
  if (failed) print_error("conveyor-consumer", session_.failure());
  const int status = failed ? 1 : 0;
  close_network(failed ? 0ms : 250ms, status);
  return status;
}

void Consumer::close_network(std::chrono::milliseconds linger, int status) {
  socket_->set(zmq::sockopt::linger, static_cast<int>(linger.count()));
  loop_.unwatch(*socket_);
  if (monitor_) loop_.unwatch(monitor_->socket());
  monitor_.reset();  // before its socket, and before the context waits for every socket
  socket_.reset();
  pool_.reset();
  if (close_context_within(context_, linger + 1000ms)) return;
  logger("consumer")
      ->warn(
          "the network layer did not let go within {} ms (a reconnect to a broker that is gone?); "
          "exiting without it",
          (linger + 1000ms).count());
  spdlog::shutdown();
  std::_Exit(status);
}

}  // namespace conveyor::consumer
