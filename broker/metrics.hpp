// The broker's Prometheus metrics: broker::Core's plain counters and views, copied into a
// metrics::MetricSet by the shell once per tick and served on --metrics-port.
#pragma once

#include <cstdint>
#include <optional>

#include "conveyor/broker/core.hpp"
#include "conveyor/metrics/exporter.hpp"

namespace conveyor::broker {

// With --curve: the CURVE handshakes decided so far, the keys admitted now and the SIGHUP reloads,
// as plain counts copied from the shell (so that the metrics need no socket to compute or test).
struct CurveCounts {
  std::uint64_t admitted = 0;
  std::uint64_t refused = 0;
  std::uint64_t producer_keys = 0;
  std::uint64_t consumer_keys = 0;
  std::uint64_t reloads_loaded = 0;  // SIGHUPs that replaced the key lists
  std::uint64_t reloads_failed = 0;  // SIGHUPs whose lists did not load: the old ones stayed
};

// Every conveyor_* family the broker exports, from one look at the core (README: Observability).
// conveyor_tasks_completed_total counts every final result: ok + failed + dead. The
// conveyor_curve_* families are there only with `curve` counts (the broker runs with --curve).
metrics::MetricSet broker_metrics(const Core& core, TimePoint now,
                                  const std::optional<CurveCounts>& curve = std::nullopt);

}  // namespace conveyor::broker
