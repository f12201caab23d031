// The broker's settings, as parsed from the command line (see main.cpp for each flag's meaning).
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>

#include "conveyor/common/clock.hpp"
#include "conveyor/common/metrics_options.hpp"

namespace conveyor::broker {

struct Config {
  std::string frontend = "tcp://*:5555";  // producers connect here
  std::string backend = "tcp://*:5556";   // consumers connect here
  std::size_t queue_capacity = 10000;
  std::optional<std::uint32_t> expected_producers;  // --producers N
  bool exit_when_drained = false;
  bool service = false;  // a drain leaves consumers connected for the next run; a stop pills them
  Duration heartbeat = milliseconds(1000);
  std::uint32_t liveness = 3;
  std::uint32_t max_attempts = 3;
  bool retry_failed = false;  // every failure is retryable, not only those a handler marks
  Duration retry_delay = milliseconds(1000);       // the first retry waits up to this
  Duration retry_delay_max = milliseconds(60000);  // no retry waits longer
  std::optional<std::uint64_t> random_seed;        // retry jitter; tests pin it
  std::optional<Duration> producer_timeout;
  std::size_t max_message_bytes = 16u << 20;
  std::size_t max_payload_bytes = 4u << 20;
  std::size_t max_batch_tasks = 100000;
  std::size_t max_peers = 4096;
  std::size_t max_queues = 64;  // named queues, created on first use, at most
  std::uint32_t max_consumer_capacity = 100000;
  std::string admin = "tcp://127.0.0.1:5557";  // conveyor-ctl status asks here; empty: off
  MetricsOptions metrics;                      // Prometheus /metrics; port 0: off
  // --curve: encrypted, authenticated connections; only keys in these lists get in (admission.hpp).
  bool curve = false;
  std::string curve_secret_key_file;
  std::string producer_keys;  // a .pub file, a file of keys, or a directory of .pub files
  std::string consumer_keys;
  std::string ready_file;  // written once the sockets are bound: the endpoints, as JSON

  Duration liveness_window() const { return heartbeat * liveness; }
};

}  // namespace conveyor::broker
