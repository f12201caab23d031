#include "conveyor/consumer/flags.hpp"

namespace conveyor::consumer {

// flag table: one statement per flag, each with its --help text
std::optional<int> parse_flags(int argc, const char* const* argv, Config& c, std::string& handler,
                               LogOptions& log) {
  CLI::App app{
      "conveyor-consumer: takes tasks from the broker, runs each through a handler on a pool of "
      "worker threads and returns the results. It exits 0 after the broker's poison pill, or "
      "after SIGTERM/SIGINT once its running tasks are finished (a second signal stops at once; "
      "the broker requeues what it held).",
      "conveyor-consumer"};
  app.option_defaults()->always_capture_default();
  add_client_flags(app, c,
                   {"the broker's backend endpoint, tcp://HOST:5556",
                    "this consumer's id, for logs and results (default: consumer-HOST-PID)",
                    "the queue it takes tasks from (created on first use)"});
  app.add_option("--emit-to", c.emit_to,
                 "a pipeline stage: the handler's output becomes new tasks in this queue (one "
                 "per output line for the built-in and exec: handlers; pipe: answers carry "
                 "\"emit\"; C++ handlers call task.emit()); their results go to the root task's "
                 "producer");
  app.add_option("--concurrency", c.concurrency, "worker threads (0: one per CPU)")
      ->check(whole_number(0, 4096));
  std::string prefetch = "auto";
  app.add_option(
         "--prefetch", prefetch,
         "tasks held beyond the running ones, so workers never wait for the network; 0 "
         "holds only what runs (for slow or risky tasks); auto: about 5 ms of work per worker, "
         "measured as tasks finish (at least --concurrency, at most 4000 or 64 MiB)")
      ->check(CLI::IsMember({"auto"}) | whole_number(0, 100000));
  app.add_option("--handler", handler,
                 "echo, sha256 (hex digest of the payload), sleep:MS (sleep, then echo), "
                 "exec:COMMAND (one process per task: payload on stdin, stdout is the output, "
                 "exit 75 asks for a retry, other non-zero exits fail) or pipe:COMMAND (long-lived "
                 "worker processes reading one JSON task per line on stdin and answering one per "
                 "line on stdout, in any language; see README, Handlers in other languages)")
      ->required();
  std::size_t pipe_processes = 0;
  app.add_option("--pipe-processes", pipe_processes,
                 "pipe: worker processes (0: --concurrency); each holds --concurrency / P tasks "
                 "at a time")
      ->check(whole_number(0, 4096));
  std::string task_timeout;
  app.add_option("--task-timeout", task_timeout,
                 "stop a task running longer than this (500ms, 30s, 5m): exec: commands are "
                 "killed with their process group, and the delivery ends as a failure that counts "
                 "an attempt (default: no limit)")
      ->type_name("DURATION")
      ->check(duration_validator());
  add_log_flags(app, log);
  bind_environment(app);
  if (auto status = parse_command_line(app, argc, argv)) return status;
  if (prefetch != "auto") c.prefetch = std::stoul(prefetch);  // checked by the validator above
  if (!task_timeout.empty()) c.task_timeout = parse_duration(task_timeout);  // checked too
  if (pipe_processes > 0) c.pipe_processes = pipe_processes;
  return std::nullopt;
}

}  // namespace conveyor::consumer
