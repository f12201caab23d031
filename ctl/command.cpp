#include "conveyor/ctl/command.hpp"

#include <unistd.h>

#include <csignal>
#include <cstdlib>
#include <ctime>
#include <iostream>
#include <optional>

#include "conveyor/common/cli.hpp"
#include "conveyor/common/signals.hpp"
#include "conveyor/ctl/ready_file.hpp"
#include "conveyor/ctl/status.hpp"
#include "conveyor/ctl/watch.hpp"
#include "conveyor/status/json.hpp"

namespace conveyor::ctl {
namespace {

constexpr const char* kProgram = "conveyor-ctl";
constexpr const char* kDefaultAdmin = "tcp://127.0.0.1:5557";

struct StatusFlags {
  std::string broker;
  std::string ready_file;
  bool json = false;
  Duration timeout = milliseconds(5000);
  bool watch = false;
  Duration interval = milliseconds(1000);
};

// Where to ask: the endpoint, and the ready file it came from (to check who answers).
struct Target {
  std::string admin;
  std::optional<ReadyFile> file;
};

// --broker, else --ready-file's admin endpoint, else $CONVEYOR_ADMIN, else the default. (The
// variable is read here, not by CLI11, so that it never counts as a --broker given with
// --ready-file.)
Expected<Target, std::string> resolve_target(const StatusFlags& flags) {
  if (!flags.ready_file.empty()) {
    auto file = read_ready_file(flags.ready_file);
    if (!file) return unexpected(file.error());
    return Target{file->admin, *file};
  }
  if (!flags.broker.empty()) return Target{flags.broker, std::nullopt};
  const char* admin = std::getenv("CONVEYOR_ADMIN");
  return Target{admin && *admin ? admin : kDefaultAdmin, std::nullopt};
}

// One status from the target, refused when a ready file's broker is not the one that answered.
Expected<wire::StatusReply, std::string> fetch(const Target& target, const StatusFlags& flags,
                                               int wake_fd = -1) {
  auto reply = fetch_status(target.admin, flags.timeout, wake_fd);
  if (reply && target.file) {
    if (auto wrong = wrong_broker(*target.file, *reply, flags.ready_file))
      return unexpected(*wrong);
  }
  return reply;
}

std::string show(const wire::StatusReply& reply, bool json) {
  if (!json) return status_table(reply);
  // A byte that is not UTF-8 is shown replaced rather than ending the command (ids are checked).
  return status::status_json(reply).dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) +
         "\n";
}

// The redrawn screen's first line, as watch(1) has one: what is shown, how often, and when.
std::string watch_header(const Target& target, Duration interval) {
  char now[16] = "";
  const std::time_t t = std::time(nullptr);
  std::strftime(now, sizeof now, "%H:%M:%S", std::localtime(&t));
  const long long ms = to_ms(interval);
  const std::string every =
      ms % 1000 == 0 ? std::to_string(ms / 1000) + " s" : std::to_string(ms) + " ms";
  return "conveyor-ctl status " + target.admin + " every " + every + ", " + now +
         " (Ctrl-C ends)\n\n";
}

// --watch: a refresh every --interval (counted from the start of the last one) until SIGINT or
// SIGTERM, read from a signalfd made before the first ZeroMQ context starts its threads.
int run_watch(const Target& target, const StatusFlags& flags) {
  SignalFd signals({SIGINT, SIGTERM});
  const WatchOutput output = watch_output(flags.json, ::isatty(STDOUT_FILENO) == 1);
  for (bool first = true;; first = false) {
    const TimePoint started = Clock::now();
    auto reply = fetch(target, flags, signals.fd());
    if (signals.read()) return 0;
    if (!reply) {
      print_error(kProgram, reply.error());
      return 1;
    }
    std::string body = show(*reply, flags.json);
    if (output == WatchOutput::redraw) body = watch_header(target, flags.interval) + body;
    std::cout << watch_frame(output, body, first) << std::flush;
    if (wait_readable(signals.fd(), started + flags.interval - Clock::now())) return 0;
  }
}

int run_status(const StatusFlags& flags) {
  const auto target = resolve_target(flags);
  if (!target) {
    print_error(kProgram, target.error());
    return 1;
  }
  if (flags.watch) return run_watch(*target, flags);
  auto reply = fetch(*target, flags);
  if (!reply) {
    print_error(kProgram, reply.error());
    return 1;
  }
  std::cout << show(*reply, flags.json) << std::flush;
  return 0;
}

// flag table: `conveyor-ctl status`.
void add_status_flags(CLI::App& command, StatusFlags& flags) {
  command.option_defaults()->always_capture_default();
  // Not CONVEYOR_BROKER: in a container that names the producer's or consumer's broker port.
  auto* broker = add_endpoint_option(
      command, "--broker", flags.broker,
      std::string("the broker's --admin endpoint (default: $CONVEYOR_ADMIN, else ") +
          kDefaultAdmin + ")");
  command
      .add_option("--ready-file", flags.ready_file,
                  "ask the broker that wrote this --ready-file, at the admin endpoint in it (a "
                  "broker on ephemeral ports, or one of several on a host); exit 1 when the file "
                  "is missing, names no admin endpoint, or another broker answers")
      ->excludes(broker);
  command.add_flag("--json", flags.json, "print one JSON object instead of a table");
  add_duration_option(command, "--timeout", flags.timeout, "give up after this long (exit 1)");
  auto* watch = command.add_flag(
      "--watch", flags.watch,
      "show the status again every --interval until Ctrl-C or SIGTERM (exit 0): redrawn in place "
      "on a terminal, one table after another otherwise, one JSON line each with --json; exit 1 "
      "once the broker stops answering");
  add_duration_option(command, "--interval", flags.interval, "time between --watch refreshes")
      ->needs(watch);
}

}  // namespace

int run_command_line(int argc, const char* const* argv) {
  CLI::App app{"conveyor-ctl: look at a running Conveyor broker.", kProgram};
  app.require_subcommand(1);
  StatusFlags flags;
  auto* command = app.add_subcommand(
      "status", "queue, in-flight tasks, totals, consumers and producers of a broker");
  command->footer(
      "Exit status: 0 shown (with --watch: stopped by a signal), 1 the broker did not answer or "
      "its --ready-file could not be used, 2 bad flags.");
  add_status_flags(*command, flags);
  if (auto code = parse_command_line(app, argc, argv)) return *code;
  if (flags.interval <= Duration::zero()) {
    print_error(kProgram, "--interval: must be more than 0, e.g. 500ms or 2s (see --help)");
    return 2;
  }
  return run_status(flags);
}

}  // namespace conveyor::ctl
