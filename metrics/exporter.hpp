// Prometheus metrics for the executables, served as text on http://ADDRESS:PORT/metrics.
//
// A shell copies its plain counters into a MetricSet once per round (never per task) and
// publishes it; a scrape serves the last published set. Series that are not in the latest set
// (a consumer that left) are gone from the next scrape: nothing is kept per label value.
#pragma once

#include <cstdint>
#include <initializer_list>
#include <memory>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "conveyor/common/metrics_options.hpp"

namespace spdlog {
class logger;
}

namespace prometheus {
class Exposer;
}

struct CivetCallbacks;  // civetweb's (CivetServer.h)

namespace conveyor::metrics {

using Labels = std::vector<std::pair<std::string, std::string>>;

// One sample of a family: its labels and value; histograms use `buckets` (cumulative counts per
// upper bound, +Inf last), `count` and `value` as the sum.
struct Sample {
  Labels labels;
  double value = 0;
  std::vector<std::pair<double, std::uint64_t>> buckets;
  std::uint64_t count = 0;
};

enum class Kind : std::uint8_t { counter, gauge, histogram };

struct Family {
  std::string name;
  std::string help;
  Kind kind = Kind::gauge;
  std::vector<Sample> samples;

  // One more counter or gauge sample, with these labels.
  void add(Labels labels, double value) { samples.push_back({std::move(labels), value, {}, 0}); }
  // One sample per value of `label`: {"status": "ok"} = 3, {"status": "failed"} = 1, ...
  void add_each(const std::string& label,
                std::initializer_list<std::pair<const char*, double>> values) {
    for (const auto& [value, n] : values)
      add({{label, value}}, n);
  }
};

// What one scrape shows: families by name, built fresh by the shell every round.
class MetricSet {
 public:
  // Each returns the family so that more samples (other labels) can be added to it.
  Family& counter(std::string name, std::string help);
  Family& gauge(std::string name, std::string help);
  Family& histogram(std::string name, std::string help);
  // Shorthands for an unlabelled sample.
  void add_counter(std::string name, std::string help, double value);
  void add_gauge(std::string name, std::string help, double value);

  const std::vector<Family>& families() const { return families_; }

 private:
  std::vector<Family> families_;
};

// Serving failed at startup (port in use, bad address): "cannot serve metrics on A:P: why".
class ExporterError : public std::runtime_error {
  using std::runtime_error::runtime_error;
};

// The HTTP server (prometheus-cpp's Exposer, its own threads) and the last published set.
class Exporter {
 public:
  // Listens at once; throws ExporterError. `callbacks` go to the civetweb server underneath, for
  // a program that answers more than /metrics on the same port (the broker's status page).
  Exporter(const std::string& address, std::uint16_t port,
           const CivetCallbacks* callbacks = nullptr);
  ~Exporter();
  Exporter(const Exporter&) = delete;
  Exporter& operator=(const Exporter&) = delete;

  // Replaces what the next scrape serves. Thread-safe.
  void publish(MetricSet set);
  std::uint16_t port() const;

 private:
  class Published;
  std::shared_ptr<Published> published_;
  std::unique_ptr<prometheus::Exposer> server_;
};

// The exporter `options` ask for, listening and logged ("metrics on http://A:P/metrics"), or
// nothing when the port is 0. Throws ExporterError.
std::unique_ptr<Exporter> start_exporter(const MetricsOptions& options,
                                         const std::shared_ptr<spdlog::logger>& log);

}  // namespace conveyor::metrics
