// conveyor-consumer: flags in, consumer::Consumer out. All logic lives in the library.
#include "conveyor/consumer/flags.hpp"

int main(int argc, char** argv) {
  using namespace conveyor;
  consumer::Flags flags;
  if (auto status = consumer::parse_flags(argc, argv, flags)) return *status;
  return run_main("conveyor-consumer", flags.log, [&] {
    auto handler = from_flag("--handler", [&] { return consumer::make_handler(flags.handler); });
    consumer::Consumer consumer(flags.config);
    consumer.on_task(std::move(handler));
    return consumer.run();
  });
}
