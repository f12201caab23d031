// conveyor-bench-latency: a producer (the real producer::Producer) that offers tasks at a fixed
// rate and measures, for each one, the time from the moment it was due to the moment its result
// was back in the producer. Payloads carry their due time; an `echo` consumer sends it back.
//
//   conveyor-bench-latency --broker tcp://127.0.0.1:5555 --rate 10000 --tasks 50000
//
// Prints one JSON line: {"rate":R,"tasks":N,"p50_us":..,"p99_us":..,"p999_us":..,"max_us":..}.
// Measuring from the due time, not the send time, keeps a stalled sender from hiding its own
// delay (coordinated omission).
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <thread>
#include <vector>

#include <CLI/CLI.hpp>

#include "conveyor/common/cli.hpp"
#include "conveyor/producer/producer.hpp"
#include "latency_report.hpp"

namespace {

using Clock = std::chrono::steady_clock;

// Payload: the due time in ns since the clock's epoch, then padding up to `size` bytes.
class PacedSource : public conveyor::producer::Source {
 public:
  PacedSource(double rate, std::uint64_t tasks, std::size_t size)
      : interval_(1.0 / rate), tasks_(tasks), size_(std::max<std::size_t>(size, 8)) {}

  std::optional<std::string> next() override {
    if (sent_ == tasks_) return std::nullopt;
    if (sent_ == 0) start_ = Clock::now();
    const auto due = due_time(sent_);
    std::this_thread::sleep_until(due);
    ++sent_;
    std::string payload(size_, 'x');
    const std::int64_t ns = due.time_since_epoch().count();
    std::memcpy(payload.data(), &ns, sizeof ns);
    return payload;
  }
  bool ready() override { return sent_ == tasks_ || Clock::now() >= due_time(sent_); }
  std::optional<std::uint64_t> size_hint() const override { return tasks_; }

 private:
  Clock::time_point due_time(std::uint64_t i) const {
    return start_ + std::chrono::duration_cast<Clock::duration>(
                        std::chrono::duration<double>(interval_ * static_cast<double>(i)));
  }

  double interval_;
  std::uint64_t tasks_;
  std::size_t size_;
  std::uint64_t sent_ = 0;
  Clock::time_point start_ = Clock::now();
};

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"conveyor-bench-latency: task-to-result latency at a fixed offered rate"};
  conveyor::producer::Config config;
  config.id = "latency";
  config.quiet = true;
  config.summary = false;
  double rate = 10000;
  std::uint64_t tasks = 50000;
  std::size_t size = 64;
  app.add_option("--broker", config.broker)->required();
  app.add_option("--rate", rate, "tasks per second offered")->check(CLI::Range(1.0, 1e8));
  app.add_option("--tasks", tasks);
  app.add_option("--size", size, "payload bytes (at least 8)");
  CLI11_PARSE(app, argc, argv);
  conveyor::LogOptions log;
  log.level = "warn";
  conveyor::apply_log_options("conveyor-bench-latency", log);

  std::vector<double> latencies_us;
  latencies_us.reserve(tasks);
  conveyor::producer::Producer producer(config);
  producer.set_source(std::make_unique<PacedSource>(rate, tasks, size));
  producer.on_result([&](const conveyor::producer::Outcome& outcome) {
    const auto now = Clock::now().time_since_epoch().count();
    std::int64_t due = 0;
    if (outcome.output.size() >= sizeof due) std::memcpy(&due, outcome.output.data(), sizeof due);
    latencies_us.push_back(static_cast<double>(now - due) / 1000.0);
  });
  const int status = producer.run();
  conveyor::bench::print_latency(rate, latencies_us);
  return status;
}
