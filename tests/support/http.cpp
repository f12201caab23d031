#include "support/http.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdlib>
#include <sstream>
#include <stdexcept>

namespace conveyor::testing {

std::pair<int, int> loopback_socket(bool listening) {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in where{};
  where.sin_family = AF_INET;
  where.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t size = sizeof where;
  if (::bind(fd, reinterpret_cast<sockaddr*>(&where), size) != 0 ||
      (listening && ::listen(fd, 1) != 0) ||
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&where), &size) != 0) {
    ::close(fd);
    throw std::runtime_error("no free port");
  }
  return {fd, ntohs(where.sin_port)};
}

int free_port() {
  const auto [fd, port] = loopback_socket(false);
  ::close(fd);
  return port;
}

std::optional<HttpReply> http_request(int port, const std::string& method,
                                      const std::string& target) {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in where{};
  where.sin_family = AF_INET;
  where.sin_port = htons(static_cast<std::uint16_t>(port));
  where.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  timeval limit{5, 0};
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &limit, sizeof limit);
  std::string response;
  if (::connect(fd, reinterpret_cast<sockaddr*>(&where), sizeof where) == 0) {
    const std::string request =
        method + " " + target + " HTTP/1.0\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n";
    (void)!::write(fd, request.data(), request.size());
    char buffer[65536];
    for (ssize_t n; (n = ::read(fd, buffer, sizeof buffer)) > 0;)
      response.append(buffer, static_cast<std::size_t>(n));
  }
  ::close(fd);
  const auto body = response.find("\r\n\r\n");
  if (response.rfind("HTTP/1.", 0) != 0 || response.size() < 12 || body == std::string::npos) {
    return std::nullopt;
  }
  return HttpReply{std::atoi(response.substr(9, 3).c_str()), response.substr(0, body + 2),
                   response.substr(body + 4)};
}

std::string http_header(const HttpReply& reply, const std::string& name) {
  std::istringstream lines(reply.head);
  for (std::string line; std::getline(lines, line);) {
    if (line.size() > name.size() && strncasecmp(line.c_str(), name.c_str(), name.size()) == 0 &&
        line[name.size()] == ':') {
      const auto value = line.find_first_not_of(' ', name.size() + 1);
      const auto end = line.find_last_not_of("\r");
      return value == std::string::npos || value > end ? "" : line.substr(value, end - value + 1);
    }
  }
  return "";
}

std::optional<std::string> http_get(int port, const std::string& target) {
  auto reply = http_request(port, "GET", target);
  if (!reply || reply->status != 200) return std::nullopt;
  return std::move(reply->body);
}

std::optional<double> metric_value(const std::string& body, const std::string& series) {
  std::istringstream lines(body);
  for (std::string line; std::getline(lines, line);) {
    if (line.rfind(series + " ", 0) == 0) return std::stod(line.substr(series.size() + 1));
  }
  return std::nullopt;
}

std::optional<double> scrape(int port, const std::string& series) {
  const auto body = http_get(port, "/metrics");
  if (!body) return std::nullopt;
  return metric_value(*body, series);
}

std::vector<std::string> metrics_flags(int port) {
  return {"--metrics-port", std::to_string(port), "--metrics-address", "127.0.0.1"};
}

}  // namespace conveyor::testing
