// conveyor-ctl: flags in, a subcommand run. All logic lives in the library.
#include <exception>

#include "conveyor/common/cli.hpp"
#include "conveyor/ctl/command.hpp"

int main(int argc, char** argv) {
  try {
    return conveyor::ctl::run_command_line(argc, argv);
  } catch (const std::exception& e) {
    conveyor::print_error("conveyor-ctl", std::string("internal error: ") + e.what());
    return 70;
  }
}
