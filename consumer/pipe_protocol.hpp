// The pipe: protocol (DESIGN.md §7.3): one JSON object per line between the consumer and a
// long-lived worker process, in any language.
//
//   to the worker   {"id":"p1:41","seq":41,"attempt":1,"payload":"…"}
//                   (+ "encoding":"base64" when the payload is not UTF-8, "headers":{…} when set)
//   from it         {"id":"p1:41","output":"…"}                  (+ "encoding":"base64")
//                   {"id":"p1:41","error":"…","retry":false}
//                   either may carry "emit":[{"payload":"…"}, …] (tasks for --emit-to)
//
// Answers come in any order, matched by id. Sans-IO: lines in, lines out.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "conveyor/common/delivery.hpp"
#include "conveyor/common/expected.hpp"
#include "conveyor/consumer/report.hpp"
#include "conveyor/proto/conveyor.pb.h"

namespace conveyor::consumer {

// Appends the line (with its newline) that gives `task` to a worker.
void append_task_line(std::string& out, const Delivery& task);

// One answer from a worker: whose, and the result it carries (status, output or error, retry,
// and in emit the payloads of tasks for the next stage).
struct PipeAnswer {
  std::string id;
  Report result;  // producer, seq and attempts unset: the caller knows the task
};

// The fast path of parse_answer_line(): {"id":…,"output":…} (+ "encoding":"base64") read without
// a JSON document; nothing for any other line, which parse_answer_line() then parses whole.
std::optional<PipeAnswer> plain_answer_line(std::string_view line);

// Reads one line from a worker; the reason when it is not a valid answer (the worker is then
// restarted: a process that writes garbage cannot be trusted with the rest).
Expected<PipeAnswer, std::string> parse_answer_line(std::string_view line);

}  // namespace conveyor::consumer
