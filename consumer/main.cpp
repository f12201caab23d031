// conveyor-consumer: flags in, consumer::Consumer out. All logic lives in the library.
#include <exception>

#include "consumer/flags.hpp"

int main(int argc, char** argv) {
  using namespace conveyor;
  consumer::Flags flags;
  if (auto status = consumer::parse_flags(argc, argv, flags)) return *status;
  if (!apply_log_options("conveyor-consumer", flags.log)) return 2;
  try {
    consumer::Handler handler;
    try {
      handler = consumer::make_handler(flags.handler);
    } catch (const std::invalid_argument& e) {
      print_error("conveyor-consumer", std::string("--handler: ") + e.what());
      return 2;
    }
    consumer::Consumer consumer(flags.config);
    consumer.on_task(std::move(handler));
    return consumer.run();
  } catch (const consumer::StartupError& e) {
    print_error("conveyor-consumer", e.what());
    return 1;
  } catch (const std::exception& e) {
    print_error("conveyor-consumer", std::string("internal error: ") + e.what());
    return 70;
  }
}
