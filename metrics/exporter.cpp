#include "conveyor/metrics/exporter.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <mutex>

#include <prometheus/collectable.h>
#include <prometheus/exposer.h>
#include <prometheus/metric_family.h>
#include <spdlog/spdlog.h>

namespace conveyor::metrics {
namespace {

prometheus::MetricType to_prometheus(Kind kind) {
  switch (kind) {
    case Kind::counter:
      return prometheus::MetricType::Counter;
    case Kind::histogram:
      return prometheus::MetricType::Histogram;
    default:
      return prometheus::MetricType::Gauge;
  }
}

prometheus::ClientMetric to_prometheus(Kind kind, const Sample& sample) {
  prometheus::ClientMetric metric;
  for (const auto& [name, value] : sample.labels)
    metric.label.push_back({name, value});
  if (kind == Kind::counter) {
    metric.counter.value = sample.value;
  } else if (kind == Kind::gauge) {
    metric.gauge.value = sample.value;
  } else {
    metric.histogram.sample_count = sample.count;
    metric.histogram.sample_sum = sample.value;
    for (const auto& [bound, cumulative] : sample.buckets)
      metric.histogram.bucket.push_back({cumulative, bound});
  }
  return metric;
}

// civetweb only says that it could not listen; binding a plain socket the same way tells why.
std::string why_not_listening(const std::string& address, std::uint16_t port) {
  sockaddr_in where{};
  where.sin_family = AF_INET;
  where.sin_port = htons(port);
  if (::inet_pton(AF_INET, address.c_str(), &where.sin_addr) != 1) return "not an IPv4 address";
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) return std::strerror(errno);
  const int one = 1;
  ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  std::string why = "the HTTP server did not start";
  if (::bind(fd, reinterpret_cast<const sockaddr*>(&where), sizeof where) != 0) {
    why = errno == EADDRINUSE ? "address in use" : std::strerror(errno);
  }
  ::close(fd);
  return why;
}

}  // namespace

Family& MetricSet::counter(std::string name, std::string help) {
  return families_.emplace_back(Family{std::move(name), std::move(help), Kind::counter, {}});
}

Family& MetricSet::gauge(std::string name, std::string help) {
  return families_.emplace_back(Family{std::move(name), std::move(help), Kind::gauge, {}});
}

Family& MetricSet::histogram(std::string name, std::string help) {
  return families_.emplace_back(Family{std::move(name), std::move(help), Kind::histogram, {}});
}

void MetricSet::add_counter(std::string name, std::string help, double value) {
  counter(std::move(name), std::move(help)).samples.push_back(Sample{{}, value, {}, 0});
}

void MetricSet::add_gauge(std::string name, std::string help, double value) {
  gauge(std::move(name), std::move(help)).samples.push_back(Sample{{}, value, {}, 0});
}

// The collectable the HTTP threads read: the last published set, under a mutex.
class Exporter::Published final : public prometheus::Collectable {
 public:
  void replace(MetricSet set) {
    std::lock_guard lock(mutex_);
    set_ = std::move(set);
  }
  std::vector<prometheus::MetricFamily> Collect() const override {
    std::lock_guard lock(mutex_);
    std::vector<prometheus::MetricFamily> out;
    out.reserve(set_.families().size());
    for (const Family& family : set_.families()) {
      prometheus::MetricFamily converted{family.name, family.help, to_prometheus(family.kind), {}};
      for (const Sample& sample : family.samples)
        converted.metric.push_back(to_prometheus(family.kind, sample));
      out.push_back(std::move(converted));
    }
    return out;
  }

 private:
  mutable std::mutex mutex_;
  MetricSet set_;
};

Exporter::Exporter(const std::string& address, std::uint16_t port, const CivetCallbacks* callbacks)
    : published_(std::make_shared<Published>()) {
  const std::string where = address + ":" + std::to_string(port);
  try {
    server_ = std::make_unique<prometheus::Exposer>(where, 1, callbacks);
  } catch (const std::exception&) {
    throw ExporterError("cannot serve metrics on " + where + ": " +
                        why_not_listening(address, port));
  }
  server_->RegisterCollectable(published_);
}

Exporter::~Exporter() = default;

void Exporter::publish(MetricSet set) {
  published_->replace(std::move(set));
}

std::uint16_t Exporter::port() const {
  const auto ports = server_->GetListeningPorts();
  return ports.empty() ? 0 : static_cast<std::uint16_t>(ports.front());
}

std::unique_ptr<Exporter> start_exporter(const MetricsOptions& options,
                                         const std::shared_ptr<spdlog::logger>& log) {
  if (options.port == 0) return nullptr;
  auto exporter = std::make_unique<Exporter>(options.address, options.port);
  log->info("metrics on http://{}:{}/metrics", options.address, options.port);
  return exporter;
}

}  // namespace conveyor::metrics
