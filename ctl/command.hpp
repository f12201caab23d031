// conveyor-ctl's command line: `conveyor-ctl status --broker tcp://HOST:5557 [--json]`.
#pragma once

namespace conveyor::ctl {

// Parses the command line and runs the subcommand; returns the exit status (0 ok, 1 the broker
// did not answer, 2 bad flags).
int run_command_line(int argc, const char* const* argv);

}  // namespace conveyor::ctl
