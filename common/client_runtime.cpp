#include "conveyor/common/client_runtime.hpp"

#include <csignal>

#include <spdlog/spdlog.h>

#include "conveyor/common/errors.hpp"
#include "conveyor/common/logging.hpp"
#include "conveyor/common/sockets.hpp"

namespace conveyor {
namespace {

using namespace std::chrono_literals;

constexpr std::size_t kReceiveBudget = 1024;  // messages per round, so a flood cannot starve timers
constexpr std::size_t kMaxFromBroker = std::size_t{1} << 30;

std::optional<ClientKeys> client_keys(const CurveConfig& curve) {
  try {
    return load_client_keys(curve);
  } catch (const KeyError& e) {
    throw StartupError(e.what());
  }
}

}  // namespace

ClientRuntime::ClientRuntime(const ClientConfig& config, const std::string& component)
    : component_(component),
      broker_(config.broker),
      signals_({SIGINT, SIGTERM}),
      context_(1),
      keys_(client_keys(config.curve)) {
  ignore_sigpipe();
  try {
    exporter_ = metrics::start_exporter(config.metrics, logger(component_));
  } catch (const metrics::ExporterError& e) {
    throw StartupError(e.what());
  }
}

ClientRuntime::~ClientRuntime() {
  monitor_.reset();  // before the socket it watches
}

void ClientRuntime::run(ClientSession& session, ClientHooks hooks) {
  connect(session);
  loop_.watch(signals_.fd(), [this, &session] { on_signal(session); });
  schedule_tick(session, Clock::now());
  if (exporter_ && hooks.publish_metrics) loop_.every(kMetricsPeriod, hooks.publish_metrics);
  loop_.after_each_round([this, &session, &hooks] { round(session, hooks); });
  round(session, hooks);  // the hello and the shell's first work go out before the first poll
  if (!session.finished()) loop_.run();
}

// The next tick is scheduled when the session says (ClientSession::next_tick()): on the link's
// period while busy, which the welcome sets, at the link's next deadline while idle.
void ClientRuntime::schedule_tick(ClientSession& session, TimePoint now) {
  tick_idle_ = session.idle();
  tick_due_ = session.next_tick(now);
  tick_timer_ = loop_.after(std::max(Duration::zero(), tick_due_ - now), [this, &session] {
    const TimePoint fired = Clock::now();
    session.on_tick(fired);
    schedule_tick(session, fired);
  });
}

// After a round: an idle session's deadline moves with what was sent and heard, and a session
// that became busy needs its regular ticks now, not at a heartbeat a second away. A busy one's
// periodic tick stands (rescheduling it every round would cost a timer per round).
void ClientRuntime::retime_tick(ClientSession& session, TimePoint now) {
  const bool idle = session.idle();
  if (!idle && !tick_idle_) return;
  if (idle && tick_idle_ && session.next_tick(now) == tick_due_) return;
  loop_.cancel(tick_timer_);
  schedule_tick(session, now);
}

void ClientRuntime::round(ClientSession& session, const ClientHooks& hooks) {
  const TimePoint now = Clock::now();
  if (hooks.before_flush) hooks.before_flush(now);
  session.flush(now);
  send_outbox(session);
  if (session.link().wants_new_connection()) connect(session);
  if (hooks.after_round) hooks.after_round(now);
  retime_tick(session, now);
  if (session.finished()) {
    send_outbox(session);
    loop_.stop();
  }
}

void ClientRuntime::drop_socket() {
  if (monitor_) {
    loop_.unwatch(monitor_->socket());
    monitor_.reset();
  }
  if (socket_) {
    loop_.unwatch(*socket_);
    socket_->set(zmq::sockopt::linger, 0);  // what it still holds is sent again anyway
    socket_.reset();
  }
}

void ClientRuntime::connect(ClientSession& session) {
  drop_socket();
  SocketOptions options;
  options.max_message_bytes = static_cast<long long>(kMaxFromBroker);
  if (keys_) {
    options.curve = SocketOptions::Curve{keys_->public_key, keys_->secret_key, keys_->server_key};
  }
  socket_.emplace(make_dealer(context_, options));
  monitor_.emplace(context_, *socket_);
  loop_.watch(monitor_->socket(), [this, &session] { on_handshake_event(session); });
  try {
    socket_->connect(broker_);
  } catch (const zmq::error_t& e) {
    throw StartupError("cannot connect to --broker " + broker_ + ": " + e.what());
  }
  loop_.watch(*socket_, [this, &session] { receive(session); });
  session.on_connect(Clock::now());
}

void ClientRuntime::on_handshake_event(ClientSession& session) {
  BrokerLink& link = session.link();
  while (auto event = monitor_->next()) {
    if (event->event == ZMQ_EVENT_HANDSHAKE_SUCCEEDED) {
      link.on_handshake_succeeded();
    } else if (auto cause =
                   describe_handshake_failure(*event, link.admitting_flag(), keys_.has_value())) {
      logger(component_)->debug("handshake with the broker failed: {}", *cause);
      link.on_handshake_failure(std::move(*cause));
    }
  }
}

void ClientRuntime::receive(ClientSession& session) {
  for (std::size_t n = 0; n < kReceiveBudget; ++n) {
    // Shared, so that a session reading the frame in place can keep it; reused while it does not.
    if (frame_.use_count() != 1) frame_ = std::make_shared<zmq::message_t>();
    zmq::message_t& frame = *frame_;
    if (!socket_->recv(frame, zmq::recv_flags::dontwait)) return;
    if (session.on_frame(frame.to_string_view(), frame_, Clock::now())) continue;
    if (auto error = decoder_.decode(frame.to_string_view(), kMaxFromBroker)) {
      logger(component_)->warn("ignoring a bad message from the broker: {}", to_string(*error));
      continue;
    }
    session.on_envelope(decoder_.envelope(), Clock::now());
  }
}

void ClientRuntime::on_signal(ClientSession& session) {
  while (auto signo = signals_.read()) {
    if (session.on_signal(*signo, Clock::now()) == SignalAction::stop_now) {
      forced_exit_ = 128 + *signo;
      send_outbox(session);
      loop_.stop();
      return;
    }
  }
}

void ClientRuntime::send_outbox(ClientSession& session) {
  auto& outbox = session.link().outbox();
  for (auto& out : outbox) {
    // A batch goes without a copy: its buffer comes back to the link through lent_ once sent.
    zmq::message_t frame =
        out.is_batch() ? lent_->lend(std::move(out.batch)) : encode(out.envelope);
    if (!socket_->send(frame, zmq::send_flags::dontwait)) {
      // The pipe to the broker is full: treat it as a broken connection and start over.
      logger(component_)->warn("the connection to the broker is congested; reconnecting");
      outbox.clear();
      connect(session);
      return;
    }
  }
  outbox.clear();
  for (ByteBuffer& buffer : lent_->take_back())
    session.link().give_back(std::move(buffer));
}

void ClientRuntime::publish(metrics::MetricSet set) {
  if (exporter_) exporter_->publish(std::move(set));
}

void ClientRuntime::close(std::chrono::milliseconds linger, int status) {
  if (socket_) {
    socket_->set(zmq::sockopt::linger, static_cast<int>(linger.count()));
    loop_.unwatch(*socket_);
  }
  if (monitor_) loop_.unwatch(monitor_->socket());
  monitor_.reset();  // before its socket, and before the context waits for every socket
  socket_.reset();
  if (close_context_within(context_, linger + 1000ms)) return;
  logger(component_)
      ->warn(
          "the network layer did not let go within {} ms (a reconnect to a broker that is gone?); "
          "exiting without it",
          (linger + 1000ms).count());
  spdlog::shutdown();
  std::_Exit(status);
}

}  // namespace conveyor
