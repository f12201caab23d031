// A consumer with a custom handler: each payload is a JSON object and the output is one field of
// it. Payloads that are not JSON, or lack the field, come back as `failed` with the reason: the
// handler just throws, and the worker turns that into a failed result.
//
//   json-field-consumer --broker tcp://localhost:5556 --field user
#include <nlohmann/json.hpp>

#include <conveyor/common/cli.hpp>
#include <conveyor/consumer/consumer.hpp>

int main(int argc, char** argv) {
  using namespace conveyor;
  consumer::Config config;
  std::string field = "user";
  CLI::App app{"Returns one field of each JSON payload.", "json-field-consumer"};
  app.add_option("--broker", config.broker, "the broker's backend endpoint");
  app.add_option("--id", config.id, "this consumer's id");
  app.add_option("--concurrency", config.concurrency, "worker threads");
  app.add_option("--field", field, "the field to return");
  if (auto status = parse_command_line(app, argc, argv)) return *status;

  consumer::Consumer consumer{config};
  consumer.on_task([field](const Task& task) {
    const auto json = nlohmann::json::parse(task.payload());  // throws on bad JSON: `failed`
    const auto& value = json.at(field);                       // throws when missing: `failed`
    return Result::ok(value.is_string() ? value.get<std::string>() : value.dump());
  });
  return consumer.run();
}
