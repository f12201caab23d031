// The consumer's command line (DESIGN.md section 6), each flag also read from CONVEYOR_<FLAG>.
#pragma once

#include <optional>
#include <string>

#include "conveyor/common/cli.hpp"
#include "conveyor/consumer/consumer.hpp"

namespace conveyor::consumer {

struct Flags {
  Config config;
  std::string handler;
  LogOptions log;
};

// Returns an exit status when the program should stop now (--help, or a bad flag).
std::optional<int> parse_flags(int argc, const char* const* argv, Flags& flags);

}  // namespace conveyor::consumer
