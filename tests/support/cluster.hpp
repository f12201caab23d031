// A Conveyor job on loopback for integration tests: a broker on ephemeral ports, consumers and
// producers started from the real executables, each with its own log file in a temp dir that is
// kept (and named) when the test fails. Tests wait on and check what the processes promise to show
// (results files, exit statuses, the broker's status, metrics, the one-line error), never the
// wording of their logs: a log is for people and changes with them.
#pragma once

#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "conveyor/proto/conveyor.pb.h"
#include "support/process.hpp"

namespace conveyor::testing {

std::string read_file(const std::string& path);
void write_file(const std::string& path, const std::string& text);

// The results file of one producer, by seq. Fails the test on a malformed line or a seq twice.
std::map<std::uint64_t, nlohmann::json> read_results(const std::string& path);

// Every line of a results file in order, emitted tasks' included (those share their root's seq).
// Fails the test on a malformed line.
std::vector<nlohmann::json> read_result_lines(const std::string& path);

using StatusCondition = std::function<bool(const wire::StatusReply&)>;

// The status of the broker whose admin endpoint is `admin`; nothing when it does not answer
// within `timeout` (not started yet, exited) or answers with an error.
std::optional<wire::StatusReply> broker_status(const std::string& admin,
                                               std::chrono::milliseconds timeout = 2000ms);
// Asks `fetch` until the status it gives satisfies `condition`: that status, or nothing after
// `limit`.
std::optional<wire::StatusReply> wait_for_status(
    const std::function<std::optional<wire::StatusReply>()>& fetch,
    const StatusCondition& condition, std::chrono::milliseconds limit);
// A status as conveyor-ctl status --json shows it, for failure messages ("no status" without one).
std::string describe(const std::optional<wire::StatusReply>& status);

// The entry for consumer or producer `id` in a status; null when it is not listed.
const wire::ConsumerStatus* find_consumer(const wire::StatusReply& status, const std::string& id);
const wire::ProducerStatus* find_producer(const wire::StatusReply& status, const std::string& id);

// The admin endpoint a broker wrote to its --ready-file.
std::string ready_file_admin(const std::string& ready_file);

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
  // For failure messages only: no test decides anything on a log's text.
  std::string log(const std::string& name) const { return read_file(path(name + ".log")); }
  // The one line a program that gave up printed on stderr ("conveyor-producer: error: ..."), a
  // contract unlike the rest of its log; empty when there is none.
  std::string error_line(const std::string& name) const;

  // The broker's status from its admin endpoint (see broker_status).
  std::optional<wire::StatusReply> status() const { return broker_status(admin_); }
  // The first status of the broker that satisfies `condition`; nothing after `limit`.
  std::optional<wire::StatusReply> wait_status(const StatusCondition& condition,
                                               std::chrono::milliseconds limit) const;
  // A consumer that must take part in a run: the broker lists its session. Without this a
  // consumer slow to start on a loaded machine can find the job already over and the broker gone.
  bool wait_connected(const std::string& consumer_id,
                      std::chrono::milliseconds limit = std::chrono::milliseconds(10000)) const;

 private:
  std::string dir_;
  std::string frontend_;
  std::string backend_;
  std::string admin_;
  Process* broker_ = nullptr;
  std::vector<std::unique_ptr<Process>> processes_;
};

// A command run to its end in a job's directory: its exit status (nothing when it was killed at
// the 20 s deadline) and what it printed.
struct CommandRun {
  std::optional<int> status;
  std::string out;
  std::string err;
};
CommandRun run_command(Cluster& job, std::vector<std::string> argv,
                       std::map<std::string, std::string> env = {});

}  // namespace conveyor::testing
