// A producer with a custom source: it makes COUNT JSON records, {"user":"u<n>","n":<n>}, and
// prints a tally from the on_result callback. Subclass producer::Source for anything that yields
// payloads (a database cursor, a directory walk, a socket); next() runs on its own thread and may
// block.
//
//   json-records-producer --broker tcp://localhost:5555 --count 1000 --results out.jsonl
#include <iostream>

#include <nlohmann/json.hpp>

#include <conveyor/common/cli.hpp>
#include <conveyor/producer/producer.hpp>

namespace {

class JsonRecords final : public conveyor::producer::Source {
 public:
  explicit JsonRecords(std::uint64_t count) : count_(count) {}

  std::optional<std::string> next() override {
    if (n_ == count_) return std::nullopt;  // exhausted: the producer sends its pill
    const std::uint64_t n = n_++;
    return nlohmann::json{{"user", "u" + std::to_string(n)}, {"n", n}}.dump();
  }
  std::optional<std::uint64_t> size_hint() const override { return count_; }

 private:
  std::uint64_t count_;
  std::uint64_t n_ = 0;
};

}  // namespace

int main(int argc, char** argv) {
  using namespace conveyor;
  producer::Config config;
  std::uint64_t count = 100;
  CLI::App app{"Sends COUNT JSON records and waits for their results.", "json-records-producer"};
  app.add_option("--broker", config.broker, "the broker's frontend endpoint");
  app.add_option("--id", config.id, "this producer's id");
  app.add_option("--count", count, "records to send");
  app.add_option("--results", config.results, "results file (- for stdout)");
  if (auto status = parse_command_line(app, argc, argv)) return *status;

  producer::Producer producer{config};
  producer.set_source(std::make_unique<JsonRecords>(count));
  std::uint64_t ok = 0;
  producer.on_result([&](const producer::Outcome& outcome) {
    ok += outcome.status == producer::Status::ok ? 1 : 0;
  });
  const int status = producer.run();
  std::cout << ok << " of " << count << " records ok\n";
  return status;
}
