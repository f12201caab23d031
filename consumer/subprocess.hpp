// Running a shell command for the exec handler: payload to stdin, stdout captured, stderr kept
// for the error text. Pipes are serviced together with poll(), so a command that writes a lot
// before reading all its input cannot deadlock us.
#pragma once

#include <string>
#include <string_view>

namespace conveyor::consumer {

struct CommandResult {
  int exit_status = 0;  // the exit code, or 128 + signal when killed by one
  std::string stdout_text;
  std::string stderr_tail;  // the last few KiB of stderr
  std::string describe_failure() const;
};

// Runs `/bin/sh -c command` in its own process group with default signal handling. Throws
// std::runtime_error when it cannot be started or its output exceeds 256 MiB.
CommandResult run_command(const std::string& command, std::string_view input);

// SIGKILLs the process group of every command still running.
void kill_all_commands();

}  // namespace conveyor::consumer
