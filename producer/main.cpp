// conveyor-producer: flags in, producer::Producer out. All logic lives in the library.
#include "conveyor/producer/flags.hpp"

int main(int argc, char** argv) {
  using namespace conveyor;
  producer::Flags flags;
  if (auto status = producer::parse_flags(argc, argv, flags)) return *status;
  return run_main("conveyor-producer", flags.log, [&] {
    auto source = from_flag("--source", [&] {
      return producer::make_source(flags.source);
    });  // before connecting anywhere
    producer::Producer producer(flags.config);
    producer.set_source(std::move(source));
    return producer.run();
  });
}
