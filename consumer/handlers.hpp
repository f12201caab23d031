// Handlers: what a consumer does with a task. A handler may throw; the worker turns that into a
// `failed` result with the exception's text, and the consumer goes on.
#pragma once

#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "conveyor/common/task.hpp"

namespace conveyor::consumer {

// Called on worker threads, possibly at once from several: it must be thread-safe.
using Handler = std::function<Result(const Task&)>;

Handler echo_handler();
// Lowercase hex SHA-256 of the payload.
Handler sha256_handler();
// Sleeps `ms` milliseconds, then echoes the payload.
Handler sleep_handler(unsigned ms);
// What an exec: command finds in its environment about its task, so that it can make itself
// idempotent: CONVEYOR_TASK_ID (p1:41), CONVEYOR_TASK_SEQ, CONVEYOR_TASK_ATTEMPT (1, 2, ...) and
// CONVEYOR_TASK_PRODUCER.
std::vector<std::string> task_environment(const Task& task);

// The exit status with which an exec: command asks for its task to be retried later.
inline constexpr int kExitTryAgain = 75;

// Runs `/bin/sh -c command` with the payload on stdin; stdout is the output. Exit status 75 asks
// for a retry; any other non-zero exit (or death by signal) is `failed`, with the exit status and
// the end of stderr as the error text. Past the task's deadline the command's process group is
// killed and the delivery ends as timed out.
Handler exec_handler(std::string command);

// Parses --handler: "echo", "sha256", "sleep:MS" or "exec:COMMAND". Throws std::invalid_argument.
Handler make_handler(const std::string& spec);

// The command of a "pipe:COMMAND" handler (run by worker processes, not as a Handler); nothing
// for any other spec. Throws std::invalid_argument for "pipe:" without a command.
std::optional<std::string> pipe_command(const std::string& spec);

// Kills every child an exec handler is running (used when the consumer stops at once).
void kill_running_commands();

// Lowercase hex SHA-256 of `bytes`.
std::string sha256_hex(std::string_view bytes);

}  // namespace conveyor::consumer
