#include "conveyor/ctl/command.hpp"

#include <iostream>

#include "conveyor/common/cli.hpp"
#include "conveyor/ctl/status.hpp"
#include "conveyor/status/json.hpp"

namespace conveyor::ctl {
namespace {

constexpr const char* kProgram = "conveyor-ctl";

struct StatusFlags {
  std::string broker = "tcp://127.0.0.1:5557";
  bool json = false;
  Duration timeout = milliseconds(5000);
};

int run_status(const StatusFlags& flags) {
  auto reply = fetch_status(flags.broker, flags.timeout);
  if (!reply) {
    print_error(kProgram, reply.error());
    return 1;
  }
  if (flags.json) {
    std::cout << status::status_json(*reply).dump() << std::endl;
  } else {
    std::cout << status_table(*reply) << std::flush;
  }
  return 0;
}

}  // namespace

int run_command_line(int argc, const char* const* argv) {
  CLI::App app{"conveyor-ctl: look at a running Conveyor broker.", kProgram};
  app.require_subcommand(1);
  StatusFlags flags;
  auto* status = app.add_subcommand(
      "status", "queue, in-flight tasks, totals, consumers and producers of a broker");
  status->option_defaults()->always_capture_default();
  // Not CONVEYOR_BROKER: in a container that names the producer's or consumer's broker port.
  status->add_option("--broker", flags.broker, "the broker's --admin endpoint")
      ->envname("CONVEYOR_ADMIN");
  status->add_flag("--json", flags.json, "print one JSON object instead of a table");
  add_duration_option(*status, "--timeout", flags.timeout, "give up after this long (exit 1)");
  if (auto code = parse_command_line(app, argc, argv)) return *code;
  return run_status(flags);
}

}  // namespace conveyor::ctl
