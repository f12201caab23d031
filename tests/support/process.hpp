// Test harness: real processes with deadlines on every wait, killed when the test ends.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace conveyor::testing {

using namespace std::chrono_literals;
using Deadline = std::chrono::steady_clock::time_point;

// A producer's exit status when every task has a final result and some failed or died.
inline constexpr int kSomeTasksFailed = 3;

inline Deadline within(std::chrono::milliseconds ms) {
  return std::chrono::steady_clock::now() + ms;
}

// Polls `condition` every few milliseconds until it holds or the deadline passes.
bool wait_until(const std::function<bool()>& condition, std::chrono::milliseconds limit);

// A child process, started with posix_spawn; stdout and stderr go to files. The destructor
// SIGKILLs and reaps it if it is still running, so a failing test leaves nothing behind.
class Process {
 public:
  Process(std::vector<std::string> argv, const std::string& stdout_path,
          const std::string& stderr_path, std::map<std::string, std::string> env = {},
          const std::string& stdin_path = "/dev/null");
  ~Process();
  Process(Process&& other) noexcept;
  Process(const Process&) = delete;
  Process& operator=(const Process&) = delete;

  pid_t pid() const { return pid_; }
  void signal(int signo) const;
  // The exit status (128 + signal if killed), or nothing if it is still running at the deadline.
  std::optional<int> wait(std::chrono::milliseconds limit);
  bool running();
  void kill();
  const std::string& stderr_path() const { return stderr_path_; }
  const std::string& name() const { return name_; }

 private:
  pid_t pid_ = -1;
  std::optional<int> status_;
  std::string name_;
  std::string stderr_path_;
};

// Exit status of `argv` run to completion (SIGKILLed at the deadline: then nothing).
std::optional<int> run_to_end(std::vector<std::string> argv, const std::string& stdout_path,
                              const std::string& stderr_path, std::chrono::milliseconds limit,
                              std::map<std::string, std::string> env = {});

}  // namespace conveyor::testing
