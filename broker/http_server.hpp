// The broker's HTTP server on --metrics-port: prometheus-cpp's exporter serves /metrics exactly as
// before, and the status page (StatusPage: / and /status.json) is answered on the same civetweb
// server, from civetweb's begin_request callback, before civetweb looks for a handler.
#pragma once

#include <memory>

#include "conveyor/broker/status_page.hpp"
#include "conveyor/common/metrics_options.hpp"
#include "conveyor/metrics/exporter.hpp"

namespace spdlog {
class logger;
}

namespace conveyor::broker {

class HttpServer {
 public:
  // Listens at once; throws metrics::ExporterError ("cannot serve metrics on A:P: why").
  explicit HttpServer(const MetricsOptions& options);
  ~HttpServer();
  HttpServer(const HttpServer&) = delete;
  HttpServer& operator=(const HttpServer&) = delete;

  metrics::Exporter& exporter() { return *exporter_; }
  StatusPage& page() { return *page_; }

 private:
  std::shared_ptr<StatusPage> page_;  // shared with the callbacks, which outlive no server
  std::unique_ptr<metrics::Exporter> exporter_;
};

// The server `options` ask for, listening and logged (the page's and the metrics' URLs), or
// nothing when the port is 0. Throws metrics::ExporterError.
std::unique_ptr<HttpServer> start_http_server(const MetricsOptions& options,
                                              const std::shared_ptr<spdlog::logger>& log);

}  // namespace conveyor::broker
