// The producer's own Prometheus metrics (--metrics-port): what it read, what came back, what it
// still waits for, copied from its session into a metrics::MetricSet once per publish.
#pragma once

#include <cstddef>

#include "conveyor/metrics/exporter.hpp"
#include "conveyor/producer/session.hpp"

namespace conveyor::producer {

// `window`: --window, the most tasks it holds without a final result.
metrics::MetricSet producer_metrics(const Session& session, std::size_t window);

}  // namespace conveyor::producer
