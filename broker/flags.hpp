// The broker's command line (DESIGN.md section 6), each flag also read from CONVEYOR_<FLAG>.
#pragma once

#include <optional>

#include "conveyor/broker/config.hpp"
#include "conveyor/common/cli.hpp"

namespace conveyor::broker {

// Fills `config` and `log` from the command line and environment. Returns an exit status when
// the program should stop now (after --help, or a bad flag reported in one line).
std::optional<int> parse_flags(int argc, const char* const* argv, Config& config, LogOptions& log);

}  // namespace conveyor::broker
