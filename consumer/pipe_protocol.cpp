#include "conveyor/consumer/pipe_protocol.hpp"

#include <nlohmann/json.hpp>

#include "conveyor/common/json_scanner.hpp"
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
  if (task.id().empty()) {  // Task::id(), written in place: no string per line
    append_json_string(out, task.producer());
    out += ':';
    append_decimal(out, task.seq());
  } else {
    append_json_string(out, task.id());
  }
  out += "\",\"seq\":";
  append_decimal(out, task.seq());
  out += ",\"attempt\":";
  append_decimal(out, task.attempt());
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

// The answer nearly every worker writes, {"id":…,"output":…} (+ "encoding":"base64"), read
// without a JSON document: nlohmann cost the consumer about 16,000 instructions per answer, half
// of all it did per task (`HANDLER=pipe:bench/echo-worker.sh ROLES=consumer bench/callgrind.sh`).
// Anything else (an error, emits, a member of the worker's own, a string JsonScanner does not
// take, base64 that does not decode) is nothing here: the document decides it, and gives the
// answer, or the reason, it gave before.
std::optional<PipeAnswer> plain_answer_line(std::string_view line) {
  JsonScanner in(line);
  PipeAnswer answer;
  std::string key;
  bool has_id = false;
  bool has_output = false;
  bool base64 = false;
  if (!in.next_is('{')) return std::nullopt;
  do {
    if (!in.string(key) || !in.next_is(':')) return std::nullopt;
    if (key == "id") {
      if (has_id || !in.string(answer.id)) return std::nullopt;  // twice: nlohmann keeps the last
      has_id = true;
    } else if (key == "output") {
      if (has_output || !in.string(answer.result.output)) return std::nullopt;
      has_output = true;
    } else if (key == "encoding") {
      if (base64 || !in.string(key) || key != "base64") return std::nullopt;
      base64 = true;
    } else {
      return std::nullopt;  // "error", "retry", "emit", or a member of the worker's own
    }
  } while (in.next_is(','));
  if (!in.next_is('}') || !in.at_end() || !has_id || !has_output) return std::nullopt;
  if (base64) {
    auto bytes = base64_decode(answer.result.output);
    if (!bytes) return std::nullopt;
    answer.result.output = std::move(*bytes);
  }
  answer.result.status = wire::OK;
  return answer;
}

Expected<PipeAnswer, std::string> parse_answer_line(std::string_view line) {
  if (auto answer = plain_answer_line(line)) return std::move(*answer);
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
