// ClientRuntime: the socket shell both clients run their session in. It owns what is the same for
// a producer and a consumer: the signalfd, the ZeroMQ context, the DEALER to the broker with its
// handshake monitor, the event loop, the metrics server, and the round each poll ends with:
//
//   before_flush(now)  ->  session.flush(now)  ->  send the outbox  ->  reconnect if asked
//                      ->  after_round(now)    ->  stop once the session is finished
//
// It decides nothing: what a message, a tick or a signal means is the session's (ClientSession).
#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <string>

#include <zmq.hpp>

#include "conveyor/common/client_config.hpp"
#include "conveyor/common/client_session.hpp"
#include "conveyor/common/codec.hpp"
#include "conveyor/common/event_loop.hpp"
#include "conveyor/common/handshake_monitor.hpp"
#include "conveyor/common/lent_buffers.hpp"
#include "conveyor/common/signals.hpp"
#include "conveyor/metrics/exporter.hpp"

namespace conveyor {

// The shell's own work in each round, around the session's.
struct ClientHooks {
  std::function<void(TimePoint)> before_flush;  // feed the source, hand out work
  std::function<void(TimePoint)> after_round;   // redraw progress
  std::function<void()> publish_metrics;        // every kMetricsPeriod with --metrics-port
};

class ClientRuntime {
 public:
  // Metrics are copied this often, off the per-task path; a scrape sees them at most this late.
  static constexpr Duration kMetricsPeriod = milliseconds(250);

  // Blocks SIGINT and SIGTERM into a signalfd (before any thread starts), loads the CURVE keys
  // and starts the metrics server. Throws StartupError.
  ClientRuntime(const ClientConfig& config, const std::string& component);
  ~ClientRuntime();
  ClientRuntime(const ClientRuntime&) = delete;
  ClientRuntime& operator=(const ClientRuntime&) = delete;

  zmq::context_t& context() { return context_; }
  EventLoop& loop() { return loop_; }
  // Runs `session` until it is finished or a second signal stops it.
  void run(ClientSession& session, ClientHooks hooks);
  // Sends what the session queued since the last round, now (its last words on a stop).
  void send_outbox(ClientSession& session);
  // 128 + the signal when a second signal stopped the run.
  std::optional<int> forced_exit() const { return forced_exit_; }
  void publish(metrics::MetricSet set);
  bool serves_metrics() const { return exporter_ != nullptr; }
  // Lets queued messages go for up to `linger`, then closes the network. When libzmq does not
  // let go (a reconnect stuck in a DNS lookup for a broker that is gone), ends the process with
  // `status` rather than hang.
  void close(std::chrono::milliseconds linger, int status);

 private:
  void connect(ClientSession& session);
  void drop_socket();
  void receive(ClientSession& session);
  void on_handshake_event(ClientSession& session);
  void on_signal(ClientSession& session);
  void round(ClientSession& session, const ClientHooks& hooks);
  void schedule_tick(ClientSession& session, TimePoint now);
  void retime_tick(ClientSession& session, TimePoint now);

  std::string component_;
  std::string broker_;
  SignalFd signals_;  // before the context: its threads must inherit the blocked signals
  zmq::context_t context_;
  std::optional<ClientKeys> keys_;  // with --curve
  std::optional<zmq::socket_t> socket_;
  std::optional<HandshakeMonitor> monitor_;  // watches socket_'s handshakes; closed before it
  EventLoop loop_;
  EnvelopeDecoder decoder_;                // reuses the objects of earlier batches
  std::shared_ptr<zmq::message_t> frame_;  // the next frame received
  std::shared_ptr<LentBuffers> lent_ = LentBuffers::make();  // sent batches, on their way back
  std::unique_ptr<metrics::Exporter> exporter_;
  std::optional<int> forced_exit_;
  EventLoop::TimerId tick_timer_ = 0;
  TimePoint tick_due_{};
  bool tick_idle_ = false;  // the tick scheduled was an idle session's (at a link deadline)
};

}  // namespace conveyor
