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

#include "conveyor/common/client_config.hpp"
#include "conveyor/common/client_runtime.hpp"
#include "conveyor/common/clock.hpp"
#include "conveyor/common/errors.hpp"
#include "conveyor/producer/progress.hpp"
#include "conveyor/producer/results_file.hpp"
#include "conveyor/producer/session.hpp"
#include "conveyor/producer/source.hpp"
#include "conveyor/producer/source_reader.hpp"

namespace conveyor::producer {

struct Config : ClientConfig {
  Config() { broker = "tcp://localhost:5555"; }
  std::size_t window = 10000;  // tasks without a final result held at most
  std::string results;         // results file: a path, "-" for stdout, empty for none
  bool quiet = false;          // no progress display (the summary is still printed)
  bool summary = true;         // print the summary line on stderr at the end
  // --resume: keep what the results file holds, skip those tasks, append the rest.
  bool resume = false;
  // --allow-failures: exit 0 even when tasks failed or died (otherwise 3).
  bool allow_failures = false;
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

class Producer {
 public:
  // Throws StartupError (a bad id, an unwritable results path, a metrics port in use).
  explicit Producer(Config config);
  ~Producer();

  // Throws UsageError for a source --resume cannot read again (stdin).
  void set_source(std::unique_ptr<Source> source);
  // Called on the I/O thread for each final result, after it is written to the results file.
  void on_result(std::function<void(const Outcome&)> callback);
  // Runs to the end; returns the exit status (0: every task has a final result).
  int run();

  const Counts& counts() const { return session_.counts(); }
  const std::string& id() const { return config_.id; }

 private:
  void on_source_batch();
  void feed_source(TimePoint now);
  void write_results();
  void publish_metrics();
  int finish();

  Config config_;
  ClientRuntime runtime_;  // first: it blocks the signals before any thread starts
  Session session_;
  ResultsFile results_;
  Progress progress_;
  std::unique_ptr<Source> source_;
  std::unique_ptr<SourceReader> reader_;
  std::function<void(const Outcome&)> on_result_;
};

}  // namespace conveyor::producer
