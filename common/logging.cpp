#include "conveyor/common/logging.hpp"

#include <mutex>
#include <stdexcept>

#include <spdlog/pattern_formatter.h>
#include <spdlog/sinks/stdout_color_sinks.h>

#include <google/protobuf/stubs/logging.h>

#include "conveyor/common/text.hpp"

namespace conveyor {
namespace {

std::mutex registry_mutex;
spdlog::level::level_enum current_level = spdlog::level::info;
LogFormat current_format = LogFormat::text;

void append_json_escaped(std::string_view text, spdlog::memory_buf_t& out) {
  std::string escaped;
  append_json_string(escaped, text);  // a message can quote bytes from the network or a handler
  out.append(escaped.data(), escaped.data() + escaped.size());
}

// One JSON object per line: {"time":..., "level":..., "logger":..., "msg":...}.
class JsonFormatter final : public spdlog::formatter {
 public:
  void format(const spdlog::details::log_msg& msg, spdlog::memory_buf_t& dest) override {
    const auto since_epoch = msg.time.time_since_epoch();
    const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(since_epoch).count();
    fmt::format_to(std::back_inserter(dest), R"({{"time_ms":{},"level":"{}","logger":")", ms,
                   spdlog::level::to_string_view(msg.level));
    append_json_escaped(std::string_view(msg.logger_name.data(), msg.logger_name.size()), dest);
    dest.append(std::string_view(R"(","msg":")"));
    append_json_escaped(std::string_view(msg.payload.data(), msg.payload.size()), dest);
    dest.append(std::string_view("\"}\n"));
  }
  std::unique_ptr<spdlog::formatter> clone() const override {
    return std::make_unique<JsonFormatter>();
  }
};

std::shared_ptr<spdlog::sinks::sink> shared_sink() {
  static auto sink = std::make_shared<spdlog::sinks::stderr_color_sink_mt>();
  return sink;
}

void apply_format(spdlog::logger& log) {
  if (current_format == LogFormat::json) {
    log.set_formatter(std::make_unique<JsonFormatter>());
  } else {
    log.set_pattern("%Y-%m-%dT%H:%M:%S.%e %^%-5l%$ [%n] %v");
  }
  log.set_level(current_level);
}

// libprotobuf writes its own complaints (a peer's invalid UTF-8, say) straight to stderr, which
// would break one-JSON-object-per-line: route them through our logger instead.
void protobuf_to_logger(google::protobuf::LogLevel level, const char* file, int line,
                        const std::string& message) {
  auto log = logger("protobuf");
  const auto ours = level >= google::protobuf::LOGLEVEL_ERROR     ? spdlog::level::err
                    : level == google::protobuf::LOGLEVEL_WARNING ? spdlog::level::warn
                                                                  : spdlog::level::info;
  log->log(ours, "{} ({}:{})", message, file, line);
}

}  // namespace

void setup_logging(const std::string& level, LogFormat format) {
  const auto parsed = spdlog::level::from_str(level);
  if (parsed == spdlog::level::off && level != "off") {
    throw std::invalid_argument("unknown log level '" + level + "'");
  }
  google::protobuf::SetLogHandler(&protobuf_to_logger);
  std::lock_guard lock(registry_mutex);
  current_level = parsed;
  current_format = format;
  spdlog::apply_all([](const std::shared_ptr<spdlog::logger>& log) { apply_format(*log); });
}

LogFormat log_format() {
  std::lock_guard lock(registry_mutex);
  return current_format;
}

std::shared_ptr<spdlog::logger> logger(const std::string& component) {
  std::lock_guard lock(registry_mutex);
  if (auto existing = spdlog::get(component)) return existing;
  auto created = std::make_shared<spdlog::logger>(component, shared_sink());
  apply_format(*created);
  spdlog::register_logger(created);
  return created;
}

}  // namespace conveyor
