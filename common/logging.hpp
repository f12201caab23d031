// Logging: spdlog, one named logger per component, all writing to stderr in one format.
// `info` is for lifecycle events, `debug` for per-task detail; nothing per task at `info`.
#pragma once

#include <memory>
#include <string>

#include <spdlog/spdlog.h>

namespace conveyor {

enum class LogFormat { text, json };

// Configures every logger, present and future. Throws std::invalid_argument on an unknown level.
void setup_logging(const std::string& level, LogFormat format = LogFormat::text);

// The format set by setup_logging(): output besides the loggers (a progress display) follows it.
LogFormat log_format();

// The logger for a component ("broker", "producer", "consumer", ...), created on first use.
std::shared_ptr<spdlog::logger> logger(const std::string& component);

}  // namespace conveyor
