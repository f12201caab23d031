#include "conveyor/consumer/pipe_protocol.hpp"

#include <nlohmann/json.hpp>

#include "conveyor/common/task.hpp"
#include "conveyor/common/text.hpp"

namespace conveyor::consumer {
namespace {

using nlohmann::json;

// A string field as bytes: its text, or its base64 decoded when "encoding" says so.
std::optional<std::string> bytes_of(const json& object, const char* field) {
  const auto& value = object.at(field);
  if (!value.is_string()) return std::nullopt;
  const auto encoding = object.find("encoding");
  if (encoding == object.end()) return value.get<std::string>();
  if (*encoding != "base64") return std::nullopt;
  return base64_decode(value.get<std::string>());
}

Expected<std::vector<std::string>, std::string> emitted_of(const json& answer) {
  std::vector<std::string> emitted;
  const auto list = answer.find("emit");
  if (list == answer.end()) return emitted;
  if (!list->is_array()) return unexpected(std::string("\"emit\" is not a list"));
  for (const auto& task : *list) {
    if (!task.is_object() || !task.contains("payload")) {
      return unexpected(std::string("an \"emit\" entry without a payload"));
    }
    auto payload = bytes_of(task, "payload");
    if (!payload) return unexpected(std::string("an \"emit\" payload that is not text or base64"));
    emitted.push_back(std::move(*payload));
  }
  return emitted;
}

// The result an answer object describes; the reason when it describes none.
Expected<Report, std::string> result_of(const json& answer) {
  Report result;
  if (answer.contains("output") && !answer.contains("error")) {
    auto output = bytes_of(answer, "output");
    if (!output) return unexpected(std::string("\"output\" is not text or base64"));
    result.status = wire::OK;
    result.output = std::move(*output);
    return result;
  }
  if (!answer.contains("error") || !answer.at("error").is_string()) {
    return unexpected(std::string("neither \"output\" nor an \"error\" text"));
  }
  const auto retry = answer.find("retry");
  if (retry != answer.end() && !retry->is_boolean()) {
    return unexpected(std::string("\"retry\" is not true or false"));
  }
  result.status = wire::FAILED;
  result.error = to_valid_utf8(answer.at("error").get<std::string>());
  result.retry = retry != answer.end() && retry->get<bool>();
  return result;
}

}  // namespace

void append_task_line(std::string& out, const Delivery& task) {
  out += "{\"id\":\"";
  append_json_string(out, Task(task).id());
  out += "\",\"seq\":" + std::to_string(task.seq());
  out += ",\"attempt\":" + std::to_string(task.attempt());
  out += ",\"payload\":\"";
  const bool text = append_json_utf8(out, task.payload());
  if (!text) out += base64_encode(task.payload());
  out += '"';
  if (!text) out += ",\"encoding\":\"base64\"";
  if (!task.headers().empty()) {
    out += ",\"headers\":{";
    bool first = true;
    for (const wire::Header& header : task.headers()) {
      out += first ? "\"" : ",\"";
      first = false;
      append_json_string(out, header.key());
      out += "\":\"";
      append_json_string(out, header.value());
      out += '"';
    }
    out += '}';
  }
  out += "}\n";
}

Expected<PipeAnswer, std::string> parse_answer_line(std::string_view line) {
  const json answer = json::parse(line, nullptr, false);
  if (answer.is_discarded() || !answer.is_object()) {
    return unexpected(std::string("not a JSON object"));
  }
  const auto id = answer.find("id");
  if (id == answer.end() || !id->is_string()) return unexpected(std::string("no \"id\""));
  auto result = result_of(answer);
  if (!result) return unexpected(result.error());
  auto emitted = emitted_of(answer);
  if (!emitted) return unexpected(emitted.error());
  result->emit = std::move(*emitted);
  return PipeAnswer{id->get<std::string>(), std::move(*result)};
}

}  // namespace conveyor::consumer
