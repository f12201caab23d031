// The broker's Prometheus metrics: broker::Core's plain counters and views, copied into a
// metrics::MetricSet by the shell once per tick and served on --metrics-port.
#pragma once

#include "conveyor/broker/core.hpp"
#include "conveyor/metrics/exporter.hpp"

namespace conveyor::broker {

// Every conveyor_* family the broker exports, from one look at the core (README: Observability).
// conveyor_tasks_completed_total counts every final result: ok + failed + dead.
metrics::MetricSet broker_metrics(const Core& core, TimePoint now);

}  // namespace conveyor::broker
