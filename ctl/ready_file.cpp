#include "conveyor/ctl/ready_file.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include <nlohmann/json.hpp>

namespace conveyor::ctl {
namespace {

constexpr std::size_t kMaxBytes = 64 * 1024;  // a ready file is one short line

std::string flag(const std::string& path) {
  return "--ready-file " + path;
}

// The file's bytes, or why not (an errno), reading at most kMaxBytes + 1.
Expected<std::string, int> read_bytes(const std::string& path) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return unexpected(errno);
  std::string text;
  char buffer[4096];
  ssize_t n = 0;
  while (text.size() <= kMaxBytes && (n = ::read(fd, buffer, sizeof buffer)) > 0)
    text.append(buffer, static_cast<std::size_t>(n));
  const int error = errno;
  ::close(fd);
  if (n < 0) return unexpected(error);
  return text;
}

}  // namespace

Expected<ReadyFile, std::string> parse_ready_file(std::string_view text, const std::string& path) {
  if (text.size() > kMaxBytes) return unexpected(flag(path) + ": too large to be a ready file");
  const auto json = nlohmann::json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (!json.is_object()) {
    return unexpected(flag(path) + ": not a broker's ready file (no JSON object in it)");
  }
  const auto admin = json.find("admin");
  if (admin == json.end() || !admin->is_string()) {
    return unexpected(flag(path) + ": not a broker's ready file (no \"admin\" in it)");
  }
  if (admin->get<std::string>().empty()) {
    return unexpected(flag(path) + ": no admin endpoint in it (its broker runs with --admin '')");
  }
  ReadyFile file;
  file.admin = admin->get<std::string>();
  const auto pid = json.find("pid");
  if (pid != json.end() && pid->is_number_integer()) file.pid = pid->get<std::int64_t>();
  return file;
}

Expected<ReadyFile, std::string> read_ready_file(const std::string& path) {
  auto text = read_bytes(path);
  if (!text) {
    std::string line = flag(path) + ": cannot read it: " + std::strerror(text.error());
    if (text.error() == ENOENT) line += " (is a broker running with " + flag(path) + "?)";
    return unexpected(line);
  }
  return parse_ready_file(*text, path);
}

std::optional<std::string> wrong_broker(const ReadyFile& file, const wire::StatusReply& reply,
                                        const std::string& path) {
  const std::int64_t answered = reply.broker().pid();
  if (file.pid == 0 || answered == 0 || file.pid == answered) return std::nullopt;
  return flag(path) + " names broker pid " + std::to_string(file.pid) + ", but pid " +
         std::to_string(answered) + " answers on " + file.admin +
         ": the file outlived its broker and another one has its port";
}

}  // namespace conveyor::ctl
