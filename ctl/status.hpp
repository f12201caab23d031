// conveyor-ctl status: one StatusRequest to a broker's --admin endpoint, the reply shown as a
// table for people (status_table) or one JSON object for scripts (conveyor/status/json.hpp).
#pragma once

#include <string>

#include "conveyor/common/clock.hpp"
#include "conveyor/common/expected.hpp"
#include "conveyor/proto/conveyor.pb.h"

namespace conveyor::ctl {

// Asks the broker at `endpoint`; an error text when it does not answer within `timeout` or
// answers with an error. With `wake_fd` (status --watch passes its signalfd) the wait also ends,
// with an error, as soon as that descriptor is readable: a signal is not left waiting for a
// broker that does not answer. The caller reads the descriptor.
Expected<wire::StatusReply, std::string> fetch_status(const std::string& endpoint, Duration timeout,
                                                      int wake_fd = -1);

// The reply as a human-readable table (several lines, ending in a newline).
std::string status_table(const wire::StatusReply& reply);

}  // namespace conveyor::ctl
