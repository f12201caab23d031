#include "conveyor/broker/flags.hpp"

#include "conveyor/common/curve.hpp"

namespace conveyor::broker {
namespace {

// Keys are read (and their errors reported) at startup by the server; here only what is missing.
std::optional<std::string> check_curve_flags(const Config& config) {
  if (!config.curve) return std::nullopt;
  if (config.curve_secret_key_file.empty()) return "--curve needs --curve-secret-key-file";
  if (config.producer_keys.empty()) return "--curve needs --producer-keys";
  if (config.consumer_keys.empty()) return "--curve needs --consumer-keys";
  return std::nullopt;
}

}  // namespace

// flag table: one statement per flag, each with its --help text
std::optional<int> parse_flags(int argc, const char* const* argv, Config& config, LogOptions& log) {
  CLI::App app{
      "conveyor-broker: the broker of a Conveyor job. Producers connect to --frontend and send "
      "tasks; consumers connect to --backend and take them. The queue is bounded: producers get "
      "credit only for free room. When every producer has sent its poison pill and every task "
      "has its final result, the broker is drained: it sends each consumer a pill.",
      "conveyor-broker"};
  app.option_defaults()->always_capture_default();
  std::uint32_t producers = 0;
  Duration producer_timeout = Duration::zero();
  add_endpoint_option(app, "--frontend", config.frontend, "endpoint producers connect to");
  add_endpoint_option(app, "--backend", config.backend, "endpoint consumers connect to");
  app.add_option("--producers", producers,
                 "wait for this many producers' pills before draining (0: every producer that "
                 "said hello)")
      ->check(whole_number(0));
  app.add_flag("--exit-when-drained", config.exit_when_drained,
               "exit 0 once drained, instead of serving a next run");
  app.add_flag("--service", config.service,
               "keep consumers for the next run: a drain does not pill them (nor late joiners); "
               "SIGTERM/SIGINT still drains, then pills them");
  app.add_option("--queue-capacity", config.queue_capacity,
                 "tasks each queue holds at most, emitted ones included (producers get credit "
                 "only for free room; a handler emitting into a full queue waits)")
      ->check(whole_number(1, 100'000'000));
  app.add_option("--max-queues", config.max_queues,
                 "named queues the broker creates at most (on first use by a producer or "
                 "consumer; one more is refused with a clear error)")
      ->check(whole_number(1, 4096));
  // The -ms spellings came first (and CONVEYOR_HEARTBEAT_MS is in compose files): kept, shown
  // apart, meaning the same, since a bare number is milliseconds for every duration flag.
  add_duration_option(app, "--heartbeat", config.heartbeat,
                      "heartbeat interval (200ms, 1s); peers silent for --liveness intervals are "
                      "declared dead",
                      milliseconds(10), milliseconds(3'600'000));
  add_duration_option(app, "--heartbeat-ms", config.heartbeat, "the same as --heartbeat",
                      milliseconds(10), milliseconds(3'600'000))
      ->group("Older spellings (the same meaning)");
  app.add_option("--liveness", config.liveness, "heartbeats a peer may miss")
      ->check(whole_number(1, 100));
  app.add_option("--max-attempts", config.max_attempts,
                 "deliveries of a task before it is final with status dead")
      ->check(whole_number(1, 1000));
  app.add_flag("--retry-failed", config.retry_failed,
               "retry every failed task (up to --max-attempts), not only those a handler marks "
               "as worth retrying");
  add_duration_option(app, "--retry-delay", config.retry_delay,
                      "a retry waits up to this after the first attempt, twice as long after "
                      "each next one (a random wait in [0, that]: full jitter)");
  add_duration_option(app, "--retry-delay-max", config.retry_delay_max,
                      "no retry waits longer than this");
  add_duration_option(app, "--producer-timeout", producer_timeout,
                      "a producer gone this long counts as having sent its pill (30s, 5m; 0: wait "
                      "forever)");
  add_duration_option(app, "--producer-timeout-ms", producer_timeout,
                      "the same as --producer-timeout")
      ->group("Older spellings (the same meaning)");
  app.add_option("--max-message-bytes", config.max_message_bytes,
                 "largest message accepted from a peer")
      ->check(whole_number(1024, std::uint64_t{1} << 30));
  app.add_option("--max-payload-bytes", config.max_payload_bytes, "largest task payload accepted")
      ->check(whole_number(1, std::uint64_t{1} << 30));
  // The core already refused bigger batches naming this flag; now it can be set too.
  app.add_option("--max-batch-tasks", config.max_batch_tasks,
                 "tasks in one message from a producer at most")
      ->check(whole_number(1, 10'000'000));
  app.add_option("--max-peers", config.max_peers, "connected producers and consumers at most")
      ->check(whole_number(1, 1'000'000));
  add_endpoint_option(
      app, "--admin", config.admin,
      "endpoint answering `conveyor-ctl status` (empty: none; another broker on the "
      "same host needs its own, and conveyor-ctl finds it from --ready-file)");
  add_metrics_flags(app, config.metrics);
  CurveConfig curve;
  add_curve_flags(app, curve, false);
  app.add_option("--producer-keys", config.producer_keys,
                 "with --curve: public keys that may produce: a .pub file, a file of Z85 keys (one "
                 "per line, # comments) or a directory of .pub files; SIGHUP reloads it");
  app.add_option("--consumer-keys", config.consumer_keys,
                 "with --curve: public keys that may consume (same forms as --producer-keys)");
  app.add_option("--ready-file", config.ready_file,
                 "write the bound endpoints here as JSON once listening (for scripts and tests)");
  add_log_flags(app, log);
  bind_environment(app);
  if (auto status = parse_command_line(app, argc, argv)) return status;
  // Checked on the values, not with CLI11's excludes(): CONVEYOR_SERVICE=false counts as given.
  if (config.service && config.exit_when_drained) {
    print_error(app.get_name(), "--service and --exit-when-drained exclude each other");
    return 2;
  }
  config.curve = curve.enabled;
  config.curve_secret_key_file = curve.secret_key_file;
  if (auto error = check_curve_flags(config)) {
    print_error(app.get_name(), *error);
    return 2;
  }
  if (producers > 0) config.expected_producers = producers;
  if (producer_timeout > Duration::zero()) config.producer_timeout = producer_timeout;
  if (config.max_payload_bytes + 1024 > config.max_message_bytes) {
    print_error(app.get_name(),
                "--max-payload-bytes must be at least 1 KiB below --max-message-bytes");
    return 2;
  }
  return std::nullopt;
}

}  // namespace conveyor::broker
