// A Conveyor job on loopback for integration tests: a broker on ephemeral ports, consumers and
// producers started from the real executables, each with its own log file in a temp dir that is
// kept (and named) when the test fails.
#pragma once

#include <chrono>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "support/process.hpp"

namespace conveyor::testing {

std::string read_file(const std::string& path);
void write_file(const std::string& path, const std::string& text);

// The results file of one producer, by seq. Fails the test on a malformed line or a seq twice.
std::map<std::uint64_t, nlohmann::json> read_results(const std::string& path);

class Cluster {
 public:
  Cluster();
  ~Cluster();

  const std::string& dir() const { return dir_; }
  std::string path(const std::string& name) const { return dir_ + "/" + name; }

  // Starts the broker with these extra flags and waits for its ready file.
  Process& start_broker(std::vector<std::string> flags = {});
  Process& start_consumer(const std::string& id, std::vector<std::string> flags);
  Process& start_producer(const std::string& id, std::vector<std::string> flags);
  Process& start(const std::string& log_name, std::vector<std::string> argv,
                 std::map<std::string, std::string> env = {},
                 const std::string& stdin_path = "/dev/null");

  const std::string& frontend() const { return frontend_; }
  const std::string& backend() const { return backend_; }
  const std::string& admin() const { return admin_; }
  Process& broker() { return *broker_; }
  std::string results_path(const std::string& producer) const { return path(producer + ".jsonl"); }
  std::string log(const std::string& name) const { return read_file(path(name + ".log")); }
  // True once the log of `name` holds `text`; false after `limit`.
  bool wait_for_log(const std::string& name, const std::string& text,
                    std::chrono::milliseconds limit) const;
  // A consumer that must take part in a run: its hello has been answered. Without this a
  // consumer slow to start on a loaded machine can find the job already over and the broker gone.
  bool wait_connected(const std::string& consumer_id,
                      std::chrono::milliseconds limit = std::chrono::milliseconds(10000)) const {
    return wait_for_log(consumer_id, "connected to the broker", limit);
  }

 private:
  std::string dir_;
  std::string frontend_;
  std::string backend_;
  std::string admin_;
  Process* broker_ = nullptr;
  std::vector<std::unique_ptr<Process>> processes_;
};

}  // namespace conveyor::testing
