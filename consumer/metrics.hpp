// The consumer's own Prometheus metrics (--metrics-port): its session's counters and gauges,
// copied into a metrics::MetricSet by the shell once per publish, never per task. Names are
// conveyor_consumer_*; the broker's per-consumer series (conveyor_consumer_tasks_in_flight,
// conveyor_consumer_capacity, conveyor_consumer_tasks_completed_total) are the broker's view and
// keep their names there.
#pragma once

#include <cstddef>
#include <string>

#include "conveyor/consumer/session.hpp"
#include "conveyor/metrics/exporter.hpp"

namespace conveyor::consumer {

struct ProcessView {
  std::string id;
  std::size_t workers = 0;
  double handler_seconds = 0;  // running mean of handler time per task; 0 before the first
};

metrics::MetricSet consumer_metrics(const ProcessView& process, const Session& session);

}  // namespace conveyor::consumer
