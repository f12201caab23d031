// conveyor-producer: flags in, producer::Producer out. All logic lives in the library.
#include <exception>

#include "producer/flags.hpp"

int main(int argc, char** argv) {
  using namespace conveyor;
  producer::Flags flags;
  if (auto status = producer::parse_flags(argc, argv, flags)) return *status;
  if (!apply_log_options("conveyor-producer", flags.log)) return 2;
  try {
    std::unique_ptr<producer::Source> source;
    try {
      source = producer::make_source(flags.source);
    } catch (const std::invalid_argument& e) {
      print_error("conveyor-producer", std::string("--source: ") + e.what());
      return 2;
    }
    producer::Producer producer(flags.config);
    producer.set_source(std::move(source));
    return producer.run();
  } catch (const producer::StartupError& e) {
    print_error("conveyor-producer", e.what());
    return 1;
  } catch (const std::exception& e) {
    print_error("conveyor-producer", std::string("internal error: ") + e.what());
    return 70;
  }
}
