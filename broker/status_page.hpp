// The broker's live status page (DESIGN.md §7.5), served on --metrics-port beside /metrics:
// GET / is one self-contained HTML page (broker/status_page.html, compiled in: no external
// assets) that fetches GET /status.json every second. This is the HTTP side without the server:
// routing and the bytes of each response, so that both are tested without a socket.
#pragma once

#include <mutex>
#include <optional>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "conveyor/broker/history.hpp"

namespace conveyor::broker {

// broker/status_page.html, as built into the executable.
extern const std::string_view kStatusPageHtml;

struct HttpResponse {
  int status = 200;
  std::string content_type;
  std::string body;
};

// What the server answers besides /metrics, from what the broker last published. Thread-safe:
// the broker's thread publishes, the HTTP server's threads answer.
class StatusPage {
 public:
  // Replaces what /status.json serves (the broker publishes it once per tick).
  void publish(std::string status_json);

  // The answer to METHOD PATH (the path without its query): the page, the status, 404 for any
  // other path, 405 for a method other than GET and HEAD. Nothing for GET or HEAD /metrics, which
  // prometheus-cpp's handler serves as before.
  std::optional<HttpResponse> answer(std::string_view method, std::string_view path) const;

 private:
  mutable std::mutex mutex_;
  std::string status_json_;  // empty until the first publish
};

// `response` as it goes on the wire: status line, headers, then the body (none for HEAD, the
// Content-Length still that of the body).
std::string http_bytes(const HttpResponse& response, bool head);

// The "history" field of /status.json, for the page's chart: {"interval_seconds": 1,
// "capacity": 300, "completed_per_second": [oldest, ..., newest]}.
nlohmann::json history_json(const CompletionHistory& history);

}  // namespace conveyor::broker
