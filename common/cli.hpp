// Command-line conventions shared by every executable: CLI11 flags, each also readable from
// CONVEYOR_<FLAG> (the command line wins), logging flags, and one-line errors on bad input.
#pragma once

#include <cstdint>
#include <functional>
#include <limits>
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

// The same, refusing durations outside [least, most] with one line naming the flag and both.
CLI::Option* add_duration_option(CLI::App& app, const std::string& name, Duration& target,
                                 const std::string& help, Duration least, Duration most);

// A whole number from `least` to `most`, said in words when it is not ("--producers: -1 is not
// a whole number, 0 or more"), where CLI11's Range would print the limits of a double.
CLI::Validator whole_number(std::uint64_t least,
                            std::uint64_t most = std::numeric_limits<std::uint64_t>::max());

// A ZeroMQ endpoint flag. "HOST:PORT" (what people type first) means tcp://HOST:PORT; anything
// else must be tcp://HOST:PORT, ipc://PATH or inproc://NAME, or the flag is refused naming the
// forms, instead of libzmq's bare "Invalid argument" at bind or connect time.
CLI::Option* add_endpoint_option(CLI::App& app, const std::string& name, std::string& target,
                                 const std::string& help);
// The rule of add_endpoint_option on its own: the endpoint, or nothing when it is not one.
std::optional<std::string> normalize_endpoint(const std::string& text);

// The long flag of `app` nearest to `unknown` ("--concurency" -> "--concurrency"), when one is
// within a typo's reach.
std::optional<std::string> nearest_flag(const CLI::App& app, const std::string& unknown);

// The one line for a parse error: an unknown flag with its near miss, or CLI11's own message.
std::string describe_parse_error(const CLI::App& app, const CLI::ParseError& error);

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
