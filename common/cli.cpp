#include "conveyor/common/cli.hpp"
#include "conveyor/common/malloc_tuning.hpp"

#include <cctype>
#include <cmath>
#include <iostream>

namespace conveyor {

void add_log_flags(CLI::App& app, LogOptions& options) {
  app.add_option("--log-level", options.level,
                 "trace, debug, info, warn, error or off (debug logs every task)")
      ->capture_default_str();
  app.add_option("--log-format", options.format, "text, or json for one object per line")
      ->check(CLI::IsMember({"text", "json"}))
      ->capture_default_str();
}

bool apply_log_options(const std::string& program, const LogOptions& options) {
  try {
    setup_logging(options.level, options.format == "json" ? LogFormat::json : LogFormat::text);
    return true;
  } catch (const std::exception& e) {
    print_error(program, std::string("--log-level: ") + e.what());
    return false;
  }
}

std::string environment_name(const std::string& long_flag) {
  std::string name = "CONVEYOR_";
  const auto first = long_flag.find_first_not_of('-');
  for (std::size_t i = first == std::string::npos ? long_flag.size() : first; i < long_flag.size();
       ++i) {
    const char c = long_flag[i];
    name.push_back(c == '-' ? '_' : static_cast<char>(std::toupper(static_cast<unsigned char>(c))));
  }
  return name;
}

void bind_environment(CLI::App& app) {
  for (CLI::Option* option : app.get_options()) {
    const auto& names = option->get_lnames();
    if (names.empty() || names.front() == "help") continue;
    option->envname(environment_name(names.front()));
  }
  app.footer(
      "Every flag can also be set with an environment variable: --queue-capacity is "
      "CONVEYOR_QUEUE_CAPACITY. A flag on the command line wins over the variable.");
}

std::optional<int> parse_command_line(CLI::App& app, int argc, const char* const* argv) {
  try {
    app.parse(argc, argv);
    return std::nullopt;
  } catch (const CLI::CallForHelp&) {
    std::cout << app.help();
    return 0;
  } catch (const CLI::CallForAllHelp&) {
    std::cout << app.help("", CLI::AppFormatMode::All);
    return 0;
  } catch (const CLI::ParseError& e) {
    print_error(app.get_name(), describe_parse_error(app, e) + " (see --help)");
    return 2;
  }
}

std::optional<Duration> parse_duration(const std::string& text) {
  std::size_t used = 0;
  double value = 0;
  try {
    value = std::stod(text, &used);
  } catch (const std::exception&) {
    return std::nullopt;
  }
  if (value < 0) return std::nullopt;
  const std::string unit = text.substr(used);
  double ms;
  if (unit.empty() || unit == "ms") {
    ms = value;
  } else if (unit == "s") {
    ms = value * 1000;
  } else if (unit == "m" || unit == "min") {
    ms = value * 60'000;
  } else if (unit == "h") {
    ms = value * 3'600'000;
  } else {
    return std::nullopt;
  }
  // "inf", "nan" and huge values parse as doubles; converting them to Duration is undefined.
  const std::chrono::duration<double, std::milli> longest = Duration::max();
  if (!std::isfinite(ms) || ms >= longest.count()) return std::nullopt;
  return std::chrono::duration_cast<Duration>(std::chrono::duration<double, std::milli>(ms));
}

void add_metrics_flags(CLI::App& app, MetricsOptions& options) {
  app.add_option("--metrics-port", options.port,
                 "serve Prometheus metrics on http://ADDRESS:PORT/metrics (0: off)");
  app.add_option("--metrics-address", options.address,
                 "IPv4 address the metrics server listens on");
}

CLI::Validator duration_validator() {
  return CLI::Validator(
      [](std::string& text) -> std::string {
        if (parse_duration(text)) return {};
        return "'" + text + "' is not a duration: 250ms, 10s, 2m, or milliseconds (3000)";
      },
      "DURATION");
}

CLI::Option* add_duration_option(CLI::App& app, const std::string& name, Duration& target,
                                 const std::string& help, Duration least, Duration most) {
  auto* option = add_duration_option(app, name, target, help);
  option->check(CLI::Validator(
      [least, most](std::string& text) -> std::string {
        const auto parsed = parse_duration(text);
        if (!parsed || (*parsed >= least && *parsed <= most)) return {};  // the parser says why
        return "'" + text + "' is out of range: from " + std::to_string(to_ms(least)) + "ms to " +
               std::to_string(to_ms(most)) + "ms";
      },
      ""));
  return option;
}

CLI::Option* add_duration_option(CLI::App& app, const std::string& name, Duration& target,
                                 const std::string& help) {
  auto* option = app.add_option_function<std::string>(
      name,
      [&target, name](const std::string& text) {
        auto parsed = parse_duration(text);
        if (!parsed) {
          throw CLI::ValidationError(
              name, "'" + text + "' is not a duration: 250ms, 10s, 2m, or milliseconds (3000)");
        }
        target = *parsed;
      },
      help);
  option->type_name("DURATION")->default_str(std::to_string(to_ms(target)) + "ms");
  return option;
}

void print_error(const std::string& program, const std::string& message) {
  if (log_format() == LogFormat::json) {
    // Under --log-format json stderr holds one JSON object per line: the last one too.
    logger(program)->error("{}", message);
    return;
  }
  std::cerr << program << ": error: " << message << std::endl;
}

}  // namespace conveyor

namespace conveyor {

int run_main(const std::string& program, const LogOptions& log, const std::function<int()>& body) {
  if (!apply_log_options(program, log)) return 2;
  tune_malloc();  // before body() starts threads (ZeroMQ's, the workers)
  try {
    return body();
  } catch (const UsageError& e) {
    print_error(program, e.what());
    return 2;
  } catch (const StartupError& e) {
    print_error(program, e.what());
    return 1;
  } catch (const std::exception& e) {
    print_error(program, std::string("internal error: ") + e.what());
    return 70;
  }
}

}  // namespace conveyor
