// The broker's admin endpoint (--admin, a REP socket): one StatusRequest in, one StatusReply out,
// for `conveyor-ctl status`. It only reads the core.
#pragma once

#include <string>
#include <string_view>

#include "conveyor/broker/core.hpp"

namespace conveyor::broker {

// Everything `conveyor-ctl status` shows, from one look at the core.
wire::StatusReply status_reply(const Core& core, TimePoint now, TimePoint started);

// The serialized reply to one request frame: a status (with `broker`, who answers, when given),
// or a reply with `error` set when the frame is not a StatusRequest this broker understands.
// Never throws on bad input.
std::string answer_admin_request(std::string_view request, const Core& core, TimePoint now,
                                 TimePoint started, const wire::BrokerInfo* broker = nullptr);

}  // namespace conveyor::broker
