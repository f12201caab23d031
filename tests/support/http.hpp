// Loopback HTTP for tests: free ports, a GET, and one sample's value from a /metrics body, so that
// a test can wait on a process's Prometheus metrics rather than on its log.
#pragma once

#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace conveyor::testing {

// A TCP socket bound to an ephemeral loopback port, listening when asked; its fd and port.
std::pair<int, int> loopback_socket(bool listening);

// A TCP port on loopback that nobody listens on right now.
int free_port();

// One HTTP response as it arrived: the status code, the head (status line and headers) and the
// body.
struct HttpReply {
  int status = 0;
  std::string head;
  std::string body;
};

// METHOD http://127.0.0.1:PORT/TARGET over HTTP/1.0; nothing when nobody listens or the answer is
// not HTTP.
std::optional<HttpReply> http_request(int port, const std::string& method,
                                      const std::string& target);

// The value of header `name` in a response's head ("" without one).
std::string http_header(const HttpReply& reply, const std::string& name);

// The body of GET http://127.0.0.1:PORT/TARGET, or nothing (not listening, not a 200).
std::optional<std::string> http_get(int port, const std::string& target);

// The value on the line of a /metrics body that starts with `series` (name and labels), if any.
std::optional<double> metric_value(const std::string& body, const std::string& series);

// `series` as the process serving /metrics on `port` shows it now; nothing when it does not answer
// or has no such series.
std::optional<double> scrape(int port, const std::string& series);

// --metrics-port PORT --metrics-address 127.0.0.1, for any of the three executables.
std::vector<std::string> metrics_flags(int port);

}  // namespace conveyor::testing
