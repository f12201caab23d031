#include "conveyor/common/task.hpp"

#include <unistd.h>

#include <algorithm>
#include <random>

namespace conveyor {
namespace {

bool is_id_char(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
         c == '_' || c == '-';
}

}  // namespace

std::string task_id(std::string_view producer, std::uint64_t seq) {
  std::string id;
  id.reserve(producer.size() + 21);
  id.append(producer);
  id.push_back(':');
  id.append(std::to_string(seq));
  return id;
}

Task::Task(const wire::Task& task, std::optional<TimePoint> deadline,
           std::vector<std::string>* emitted)
    : task_(Delivery::view_of(task)), deadline_(deadline), emitted_(emitted) {}

std::optional<std::string_view> Task::header(std::string_view key) const {
  for (const auto& h : task_.headers()) {
    if (h.key() == key) return std::string_view(h.value());
  }
  return std::nullopt;
}

bool is_valid_peer_id(std::string_view id) {
  if (id.empty() || id.size() > 64) return false;
  return std::all_of(id.begin(), id.end(), is_id_char);
}

std::string default_peer_id(std::string_view role) {
  char host[256] = {};
  if (gethostname(host, sizeof host - 1) != 0) host[0] = '\0';
  std::string id(role);
  id.push_back('-');
  for (const char* p = host; *p != '\0' && id.size() < 40; ++p) {
    id.push_back(is_id_char(*p) ? *p : '-');
  }
  id.push_back('-');
  id.append(std::to_string(::getpid()));
  return id;
}

std::uint64_t random_nonce() {
  static thread_local std::mt19937_64 engine{std::random_device{}()};
  return engine();
}

}  // namespace conveyor
