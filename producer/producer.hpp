// producer::Producer: the C++ API of a producer, and the socket shell around producer::Session.
//
//   producer::Producer p{config};
//   p.set_source(producer::callback_source([&]() -> std::optional<std::string> { ... }));
//   return p.run();   // 0 once every task has a final result
//
// run() connects to the broker, reads the source on its own thread within the window, sends
// within the broker's credit, writes each final result, sends the pill when the source is
// exhausted and returns when every task has its result. SIGINT/SIGTERM stop reading the source
// (the pill follows what was read); a second signal returns at once.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include <zmq.hpp>

#include "common/clock.hpp"
#include "common/codec.hpp"
#include "common/curve.hpp"
#include "common/event_loop.hpp"
#include "common/handshake_monitor.hpp"
#include "common/metrics_options.hpp"
#include "common/signals.hpp"
#include "producer/progress.hpp"
#include "producer/results_file.hpp"
#include "producer/session.hpp"
#include "producer/source.hpp"
#include "producer/source_reader.hpp"

namespace conveyor::metrics {
class Exporter;
}

namespace conveyor::producer {

struct Config {
  std::string broker = "tcp://localhost:5555";
  std::string id;              // empty: "producer-<host>-<pid>"
  std::size_t window = 10000;  // tasks without a final result held at most
  Duration connect_timeout = milliseconds(10000);
  Duration reconnect_timeout = milliseconds(60000);
  CurveConfig curve;       // --curve: encrypted and authenticated, with these keys
  std::string results;     // results file: a path, "-" for stdout, empty for none
  bool quiet = false;      // no progress display (the summary is still printed)
  bool summary = true;     // print the summary line on stderr at the end
  MetricsOptions metrics;  // --metrics-port: its own counters for Prometheus
};

enum class Status { ok, failed, dead };

// A final result as the C++ API hands it out; the views live for the callback's duration.
struct Outcome {
  std::uint64_t seq;
  Status status;
  std::string_view output;
  std::string_view error;
  std::string_view consumer;
  std::uint32_t attempts;
};

// Startup problems (unreadable results path, bad id): one clear line, non-zero exit.
class StartupError : public std::runtime_error {
  using std::runtime_error::runtime_error;
};

class Producer {
 public:
  explicit Producer(Config config);
  ~Producer();

  void set_source(std::unique_ptr<Source> source);
  // Called on the I/O thread for each final result, after it is written to the results file.
  void on_result(std::function<void(const Outcome&)> callback);
  // Runs to the end; returns the exit status (0: every task has a final result).
  int run();

  const Counts& counts() const { return session_.counts(); }
  const std::string& id() const { return config_.id; }

 private:
  void connect();
  void receive();
  void on_handshake_event();
  void on_source_batch();
  void on_signal();
  void round();
  void publish_metrics();
  void feed_source(TimePoint now);
  void write_results();
  void send_outbox();
  int finish();

  Config config_;
  SignalFd signals_;  // before the context: its threads must inherit the blocked signals
  zmq::context_t context_;
  std::optional<ClientKeys> keys_;  // with --curve
  std::optional<zmq::socket_t> socket_;
  std::optional<HandshakeMonitor> monitor_;  // watches socket_'s handshakes; closed before it
  std::unique_ptr<Source> source_;
  std::unique_ptr<SourceReader> reader_;
  Session session_;
  ResultsFile results_;
  Progress progress_;
  EventLoop loop_;
  std::function<void(const Outcome&)> on_result_;
  std::optional<TimePoint> stop_reading_by_;  // first signal: give the reader this long
  std::string source_error_;
  std::string write_error_;
  int forced_exit_ = 0;
  std::unique_ptr<metrics::Exporter> metrics_;  // with --metrics-port
  EnvelopeDecoder decoder_;                     // reuses the objects of earlier result batches
};

}  // namespace conveyor::producer
