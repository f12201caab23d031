// conveyor-producer: flags in, producer::Producer out. All logic lives in the library.
#include "conveyor/producer/flags.hpp"

int main(int argc, char** argv) {
  using namespace conveyor;
  producer::Config config;
  std::string source_spec;
  LogOptions log;
  if (auto status = producer::parse_flags(argc, argv, config, source_spec, log)) return *status;
  return run_main("conveyor-producer", log, [&] {
    // The source first: a bad --source is reported before anything connects.
    auto source = from_flag("--source", [&] { return producer::make_source(source_spec); });
    producer::Producer producer(config);
    producer.set_source(std::move(source));
    return producer.run();
  });
}
