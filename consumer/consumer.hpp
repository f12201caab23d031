// consumer::Consumer: the C++ API of a consumer, and the socket shell around consumer::Session.
//
//   consumer::Consumer c{config};
//   c.on_task([](const Task& t) { return Result::ok(parse(t.payload())); });
//   return c.run();   // 0 after the broker's pill (or SIGTERM) and an orderly goodbye
//
// The handler runs on `concurrency` worker threads fed by the I/O loop. SIGINT/SIGTERM stop taking
// tasks, hand unstarted ones back, finish running ones and exit 0; a second signal exits at once
// (the broker requeues what was held) with status 128 + signal.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>

#include <zmq.hpp>

#include "common/clock.hpp"
#include "common/codec.hpp"
#include "common/curve.hpp"
#include "common/event_loop.hpp"
#include "common/handshake_monitor.hpp"
#include "common/metrics_options.hpp"
#include "common/signals.hpp"
#include "consumer/handlers.hpp"
#include "consumer/prefetch.hpp"
#include "consumer/session.hpp"
#include "consumer/worker_pool.hpp"

namespace conveyor::metrics {
class Exporter;
}

namespace conveyor::consumer {

struct Config {
  std::string broker = "tcp://localhost:5556";
  std::string id;               // empty: "consumer-<host>-<pid>"
  std::size_t concurrency = 0;  // worker threads; 0: one per CPU
  // Tasks held beyond those running, so a worker never waits for the network; 0 holds only what
  // runs (a slow or dangerous task never waits behind another). Unset: as many as concurrency.
  std::optional<std::size_t> prefetch;
  Duration connect_timeout = milliseconds(10000);
  Duration reconnect_timeout = milliseconds(60000);
  CurveConfig curve;       // --curve: encrypted and authenticated, with these keys
  MetricsOptions metrics;  // --metrics-port: its own counters for Prometheus
};

class StartupError : public std::runtime_error {
  using std::runtime_error::runtime_error;
};

class Consumer {
 public:
  explicit Consumer(Config config);
  ~Consumer();

  // The handler; must be set before run(). Called on worker threads (thread-safe, please).
  void on_task(Handler handler);
  // Runs until the pill or a signal; returns the exit status.
  int run();

  const Counts& counts() const { return session_.counts(); }
  const std::string& id() const { return config_.id; }

 private:
  void connect();
  // Closes the sockets and the context; ends the process with `status` if libzmq hangs on.
  void close_network(std::chrono::milliseconds linger, int status);
  void receive();
  void on_handshake_event();
  void on_worker(std::size_t i);
  void adapt_prefetch(const WorkBatch& batch);
  void on_signal();
  void round();
  void publish_metrics();
  void hand_out_work();
  void send_outbox();
  int finish();

  Config config_;
  SignalFd signals_;  // before the context: its threads must inherit the blocked signals
  zmq::context_t context_;
  std::optional<ClientKeys> keys_;  // with --curve
  std::optional<zmq::socket_t> socket_;
  std::optional<HandshakeMonitor> monitor_;  // watches socket_'s handshakes; closed before it
  Handler handler_;
  std::unique_ptr<WorkerPool> pool_;
  Session session_;
  EventLoop loop_;
  double task_seconds_ = 0;  // running mean of handler time per task, to size batches
  std::optional<AutoPrefetch> auto_prefetch_;  // set with --prefetch auto
  int forced_exit_ = 0;
  std::unique_ptr<metrics::Exporter> metrics_;  // with --metrics-port
  EnvelopeDecoder decoder_;                     // reuses the objects of earlier task batches
};

}  // namespace conveyor::consumer
