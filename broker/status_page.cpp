#include "conveyor/broker/status_page.hpp"

#include <cmath>

namespace conveyor::broker {
namespace {

// The page runs only its own inline script and style and talks only to this server: a consumer
// id is shown as text, and nothing from elsewhere can be loaded into the page.
constexpr const char* kSecurityPolicy =
    "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; "
    "connect-src 'self'; img-src data:; base-uri 'none'; form-action 'none'";

const char* reason(int status) {
  switch (status) {
    case 200:
      return "OK";
    case 404:
      return "Not Found";
    case 405:
      return "Method Not Allowed";
    case 503:
      return "Service Unavailable";
    default:
      return "Internal Server Error";
  }
}

HttpResponse text(int status, std::string body) {
  return {status, "text/plain; charset=utf-8", std::move(body) + "\n"};
}

}  // namespace

void StatusPage::publish(std::string status_json) {
  std::lock_guard lock(mutex_);
  status_json_ = std::move(status_json);
}

std::optional<HttpResponse> StatusPage::answer(std::string_view method,
                                               std::string_view path) const {
  if (method != "GET" && method != "HEAD") return text(405, "only GET and HEAD");
  if (path == "/metrics") return std::nullopt;
  if (path == "/" || path == "/index.html") {
    return HttpResponse{200, "text/html; charset=utf-8", std::string(kStatusPageHtml)};
  }
  if (path == "/status.json") {
    std::lock_guard lock(mutex_);
    if (status_json_.empty()) return text(503, "the broker is starting");
    return HttpResponse{200, "application/json", status_json_};
  }
  return text(404, "not found: the broker serves /, /status.json and /metrics");
}

std::string http_bytes(const HttpResponse& response, bool head) {
  std::string out = "HTTP/1.1 " + std::to_string(response.status) + " " + reason(response.status) +
                    "\r\nContent-Type: " + response.content_type +
                    "\r\nContent-Length: " + std::to_string(response.body.size()) +
                    "\r\nCache-Control: no-store\r\nX-Content-Type-Options: nosniff" +
                    "\r\nContent-Security-Policy: " + kSecurityPolicy;
  if (response.status == 405) out += "\r\nAllow: GET, HEAD";
  // civetweb closes every connection after its request (keep-alive is off): say so.
  out += "\r\nConnection: close\r\n\r\n";
  if (!head) out += response.body;
  return out;
}

nlohmann::json history_json(const CompletionHistory& history) {
  nlohmann::json rates = nlohmann::json::array();
  for (double rate : history.per_second())
    rates.push_back(std::round(rate * 100) / 100);  // a chart needs no more digits
  return {{"interval_seconds", std::chrono::duration<double>(history.interval()).count()},
          {"capacity", history.capacity()},
          {"completed_per_second", std::move(rates)}};
}

}  // namespace conveyor::broker
