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
