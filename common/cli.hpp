// Command-line conventions shared by every executable: CLI11 flags, each also readable from
// CONVEYOR_<FLAG> (the command line wins), logging flags, and one-line errors on bad input.
#pragma once

#include <functional>
#include <optional>
#include <string>

#include <CLI/CLI.hpp>

#include "conveyor/common/clock.hpp"
#include "conveyor/common/errors.hpp"
#include "conveyor/common/logging.hpp"
#include "conveyor/common/metrics_options.hpp"

namespace conveyor {

struct LogOptions {
  std::string level = "info";
  std::string format = "text";
};

// --log-level and --log-format.
void add_log_flags(CLI::App& app, LogOptions& options);

// Applies LogOptions; returns false after printing one line when they are invalid.
bool apply_log_options(const std::string& program, const LogOptions& options);

// "--queue-capacity" -> "CONVEYOR_QUEUE_CAPACITY".
std::string environment_name(const std::string& long_flag);

// Gives every long flag of `app` its CONVEYOR_* environment variable. Call after adding flags.
void bind_environment(CLI::App& app);

// "250ms", "10s", "2m", "1h", or a bare number of milliseconds ("3000"), as the defaults in
// --help are shown: a user who copies "10000" from there, or writes a timeout the way libzmq and
// the older --heartbeat-ms flags count, gets what they meant. Nothing when unparsable.
std::optional<Duration> parse_duration(const std::string& text);

// Checks that a flag's value is a duration (parse_duration), for optional duration flags.
CLI::Validator duration_validator();

// A duration flag ("--connect-timeout 10s") stored into `target`; shows `target` as its default.
CLI::Option* add_duration_option(CLI::App& app, const std::string& name, Duration& target,
                                 const std::string& help);

// --metrics-port (0: off) and --metrics-address.
void add_metrics_flags(CLI::App& app, MetricsOptions& options);

// Parses the command line. Returns an exit code when the program should stop now: 0 after --help,
// 2 after printing one line naming the bad flag.
std::optional<int> parse_command_line(CLI::App& app, int argc, const char* const* argv);

// Prints "program: error: message" on stderr (under --log-format json, as a JSON log line).
void print_error(const std::string& program, const std::string& message);

// A program's main() after its flags parsed: applies `log`, then runs `body`. A UsageError is one
// line and exit 2, a StartupError one line and exit 1, anything else "internal error" and 70.
int run_main(const std::string& program, const LogOptions& log, const std::function<int()>& body);

// Builds something from a flag's value with `make`; its std::invalid_argument becomes a
// UsageError naming the flag ("--handler: unknown handler 'x'...").
template <class Make>
auto from_flag(const std::string& flag, Make make) -> decltype(make()) {
  try {
    return make();
  } catch (const std::invalid_argument& e) {
    throw UsageError(flag + ": " + e.what());
  }
}

}  // namespace conveyor
