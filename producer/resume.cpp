#include "conveyor/producer/resume.hpp"

#include <stdexcept>

#include <nlohmann/json.hpp>

#include "conveyor/common/task.hpp"

namespace conveyor::producer {
namespace {

wire::Status status_named(const std::string& name) {
  if (name == "ok") return wire::OK;
  if (name == "dead") return wire::DEAD;
  if (name == "failed") return wire::FAILED;
  throw std::runtime_error("unknown status '" + name + "'");
}

// The seq and status of one results line of `producer_id`; throws when it is not one.
std::pair<std::uint64_t, wire::Status> parse_line(std::string_view line,
                                                  const std::string& producer_id) {
  const auto json = nlohmann::json::parse(line);
  const std::uint64_t seq = json.at("seq").get<std::uint64_t>();
  if (json.contains("parent"))
    return {seq, wire::STATUS_UNSPECIFIED};  // emitted: not a task of ours
  if (json.at("id").get<std::string>() != task_id(producer_id, seq)) {
    throw std::runtime_error("a result of another producer (" + json.at("id").get<std::string>() +
                             "), not of " + producer_id);
  }
  return {seq, status_named(json.at("status").get<std::string>())};
}

}  // namespace

ResumePoint scan_results(std::string_view text, const std::string& producer_id) {
  ResumePoint point;
  std::size_t start = 0;
  std::size_t number = 1;
  for (std::size_t end; (end = text.find('\n', start)) != std::string_view::npos;
       start = end + 1, ++number) {
    const std::string_view line = text.substr(start, end - start);
    if (line.empty()) continue;
    try {
      const auto [seq, status] = parse_line(line, producer_id);
      if (status != wire::STATUS_UNSPECIFIED) point.final.insert_or_assign(seq, status);
    } catch (const std::exception& e) {
      throw std::runtime_error("line " + std::to_string(number) +
                               " is not a results line: " + e.what());
    }
  }
  point.valid_bytes = start;
  point.torn_bytes = text.size() - start;
  return point;
}

}  // namespace conveyor::producer
