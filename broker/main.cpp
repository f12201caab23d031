// conveyor-broker: flags in, broker::Server out. All logic lives in the library.
#include "conveyor/broker/flags.hpp"
#include "conveyor/broker/server.hpp"

int main(int argc, char** argv) {
  using namespace conveyor;
  broker::Config config;
  LogOptions log;
  if (auto status = broker::parse_flags(argc, argv, config, log)) return *status;
  return run_main("conveyor-broker", log, [&] {
    broker::Server server(config);
    return server.run();
  });
}
