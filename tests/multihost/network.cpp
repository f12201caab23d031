#include "multihost/network.hpp"

#include <fcntl.h>
#include <sched.h>
#include <unistd.h>

#include <array>
#include <cstdio>
#include <exception>
#include <stdexcept>
#include <thread>

namespace conveyor::testing {

void run_or_throw(const std::string& command) {
  std::FILE* pipe = ::popen((command + " 2>&1").c_str(), "r");
  if (pipe == nullptr) throw std::runtime_error("cannot run: " + command);
  std::string output;
  std::array<char, 512> chunk{};
  while (std::fgets(chunk.data(), chunk.size(), pipe) != nullptr)
    output += chunk.data();
  const int status = ::pclose(pipe);
  if (status != 0) throw std::runtime_error(command + " failed: " + output);
}

bool Network::available() {
  return ::geteuid() == 0;
}

Network::Network() : prefix_("cv" + std::to_string(::getpid() % 100000)) {
  bridge_ns_ = prefix_ + "-sw";
  run_or_throw("ip netns add " + bridge_ns_);
  run_or_throw("ip -n " + bridge_ns_ + " link add br0 type bridge");
  run_or_throw("ip -n " + bridge_ns_ + " link set br0 up");
}

Network::~Network() {
  for (const auto& [name, host] : hosts_) {
    std::system(("ip netns del " + host.ns + " 2>/dev/null").c_str());
  }
  std::system(("ip netns del " + bridge_ns_ + " 2>/dev/null").c_str());
}

std::string Network::add_host(const std::string& name) {
  const int n = next_address_++;
  Host host;
  host.ns = prefix_ + "-" + name;
  host.address = "10.250.0." + std::to_string(n);
  host.switch_port = "p" + std::to_string(n);  // interface names must stay under 16 characters
  const std::string inside = prefix_ + "h" + std::to_string(n);
  run_or_throw("ip netns add " + host.ns);
  run_or_throw("ip link add " + inside + " type veth peer name " + prefix_ + host.switch_port);
  run_or_throw("ip link set " + inside + " netns " + host.ns + " name eth0");
  run_or_throw("ip link set " + prefix_ + host.switch_port + " netns " + bridge_ns_ + " name " +
               host.switch_port);
  run_or_throw("ip -n " + bridge_ns_ + " link set " + host.switch_port + " master br0 up");
  run_or_throw("ip -n " + host.ns + " addr add " + host.address + "/24 dev eth0");
  run_or_throw("ip -n " + host.ns + " link set eth0 up");
  run_or_throw("ip -n " + host.ns + " link set lo up");
  hosts_.emplace(name, host);
  return host.address;
}

std::vector<std::string> Network::on(const std::string& host) const {
  return {"/usr/sbin/ip", "netns", "exec", hosts_.at(host).ns};
}

// setns() moves only the calling thread: a thread of its own keeps the test's other threads
// (gtest's, a ZeroMQ context started earlier) where they were.
void Network::run_in_namespace(const std::string& host, const std::function<void()>& work) const {
  const std::string path = "/run/netns/" + hosts_.at(host).ns;
  std::exception_ptr failure;
  std::thread thread([&] {
    try {
      const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
      if (fd < 0) throw std::runtime_error("cannot open " + path);
      const int joined = ::setns(fd, CLONE_NEWNET);
      ::close(fd);
      if (joined != 0) throw std::runtime_error("cannot join the network namespace " + path);
      work();
    } catch (...) {
      failure = std::current_exception();
    }
  });
  thread.join();
  if (failure) std::rethrow_exception(failure);
}

void Network::cut(const std::string& host) {
  run_or_throw("ip -n " + bridge_ns_ + " link set " + hosts_.at(host).switch_port + " down");
}

void Network::restore(const std::string& host) {
  run_or_throw("ip -n " + bridge_ns_ + " link set " + hosts_.at(host).switch_port + " up");
}

}  // namespace conveyor::testing
