// Separate hosts on one machine: a network namespace per host, each joined by a veth link to a
// bridge that lives in its own namespace (the "switch"). Cutting a host off is taking its switch
// port down. Everything is created with a per-process prefix and deleted in the destructor.
#pragma once

#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace conveyor::testing {

class Network {
 public:
  Network();
  ~Network();
  Network(const Network&) = delete;
  Network& operator=(const Network&) = delete;

  // Adds a host with the next address on 10.250.0.0/24; returns its address.
  std::string add_host(const std::string& name);
  const std::string& address(const std::string& host) const { return hosts_.at(host).address; }
  // The argv prefix that runs a command on `host`.
  std::vector<std::string> on(const std::string& host) const;
  // Runs `work` in this process as if on `host`: on a thread that joined the host's network
  // namespace, so the sockets it opens (and the threads it starts, as a ZeroMQ context does) reach
  // the host's loopback. How a test asks a broker for its status or a client for its metrics.
  template <typename Work>
  auto run_on(const std::string& host, Work work) const -> decltype(work()) {
    std::optional<decltype(work())> result;
    run_in_namespace(host, [&] { result.emplace(work()); });
    return std::move(*result);
  }

  void cut(const std::string& host);      // unplug its cable at the switch
  void restore(const std::string& host);  // plug it back

  // True when this process may create namespaces (root).
  static bool available();

 private:
  struct Host {
    std::string ns;
    std::string address;
    std::string switch_port;
  };
  void run_in_namespace(const std::string& host, const std::function<void()>& work) const;

  std::string prefix_;
  std::string bridge_ns_;
  std::map<std::string, Host> hosts_;
  int next_address_ = 1;
};

// Runs a shell command; throws std::runtime_error with its output when it fails.
void run_or_throw(const std::string& command);

}  // namespace conveyor::testing
