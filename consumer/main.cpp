// conveyor-consumer: flags in, consumer::Consumer out. All logic lives in the library.
#include "conveyor/consumer/flags.hpp"

int main(int argc, char** argv) {
  using namespace conveyor;
  consumer::Config config;
  std::string handler_spec;
  LogOptions log;
  if (auto status = consumer::parse_flags(argc, argv, config, handler_spec, log)) return *status;
  return run_main("conveyor-consumer", log, [&] {
    // The handler first: a bad --handler is reported before anything connects.
    const auto pipe = from_flag("--handler", [&] { return consumer::pipe_command(handler_spec); });
    consumer::Handler handler;
    if (!pipe)
      handler = from_flag("--handler", [&] { return consumer::make_handler(handler_spec); });
    // The built-in and exec: handlers emit their output's lines; pipe: and C++ handlers choose.
    config.emit_output_lines = !config.emit_to.empty() && !pipe;
    consumer::Consumer consumer(config);
    if (pipe) {
      consumer.use_pipe(*pipe);  // its answers carry "emit"
    } else {
      consumer.on_task(std::move(handler));
    }
    return consumer.run();
  });
}
