// A broker's StatusReply as one JSON object: what `conveyor-ctl status --json` prints and what the
// broker's status page fetches from /status.json (README: Observability lists the fields).
#pragma once

#include <string>

#include <nlohmann/json.hpp>

#include "conveyor/proto/conveyor.pb.h"

namespace conveyor::status {

// "stopping", "drained" or "running".
std::string state_of(const wire::StatusReply& reply);

// A consumer's completions per second over its session's age (0 for a session just started).
double consumer_rate(const wire::ConsumerStatus& consumer);

// The reply as one JSON object.
nlohmann::json status_json(const wire::StatusReply& reply);

}  // namespace conveyor::status
