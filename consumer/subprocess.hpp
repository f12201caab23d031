// Running a shell command for the exec handler: payload to stdin, stdout captured, stderr kept
// for the error text. Pipes are serviced together with poll(), so a command that writes a lot
// before reading all its input cannot deadlock us.
#pragma once

#include "conveyor/common/clock.hpp"

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <sys/types.h>

namespace conveyor::consumer {

struct CommandResult {
  int exit_status = 0;     // the exit code, or 128 + signal when killed by one
  bool timed_out = false;  // still running at the deadline: its process group was killed
  std::string stdout_text;
  std::string stderr_tail;  // the last few KiB of stderr
  std::string describe_failure() const;
};

// Runs `/bin/sh -c command` in its own process group with default signal handling. At
// `deadline` the whole group is killed (SIGKILL), so a command cannot outlive its task's
// --task-timeout through a child it started. Throws std::runtime_error when it cannot be started
// or its output exceeds 256 MiB.
CommandResult run_command(const std::string& command, std::string_view input,
                          std::optional<TimePoint> deadline = std::nullopt,
                          const std::vector<std::string>& env = {});

// Starts `/bin/sh -c command` with `in`, `out` and `err` as its stdin, stdout and stderr, in its
// own process group, with default signal handling, and with `extra_env` ("NAME=value") added to
// this process's environment. Throws std::runtime_error when it cannot be started.
pid_t spawn_shell(const std::string& command, int in, int out, int err,
                  const std::vector<std::string>& extra_env);

// SIGKILLs the process group of every command still running.
void kill_all_commands();

}  // namespace conveyor::consumer
