// The producer's command line (DESIGN.md section 6), each flag also read from CONVEYOR_<FLAG>.
#pragma once

#include <optional>
#include <string>

#include "conveyor/common/cli.hpp"
#include "conveyor/producer/producer.hpp"

namespace conveyor::producer {

// Fills `config`, `source` (the --source spec) and `log`. Returns an exit status when the program
// should stop now (--help, or a bad flag).
std::optional<int> parse_flags(int argc, const char* const* argv, Config& config,
                               std::string& source, LogOptions& log);

}  // namespace conveyor::producer
