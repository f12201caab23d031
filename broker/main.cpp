// conveyor-broker: flags in, broker::Server out. All logic lives in the library.
#include <exception>

#include "broker/flags.hpp"
#include "broker/server.hpp"

int main(int argc, char** argv) {
  using namespace conveyor;
  broker::Config config;
  LogOptions log;
  if (auto status = broker::parse_flags(argc, argv, config, log)) return *status;
  if (!apply_log_options("conveyor-broker", log)) return 2;
  try {
    broker::Server server(config);
    return server.run();
  } catch (const broker::StartupError& e) {
    print_error("conveyor-broker", e.what());
    return 1;
  } catch (const std::exception& e) {
    print_error("conveyor-broker", std::string("internal error: ") + e.what());
    return 70;
  }
}
