#include "producer/metrics.hpp"

namespace conveyor::producer {
namespace {

double as_double(std::size_t n) {
  return static_cast<double>(n);
}

void add_counters(metrics::MetricSet& set, const Counts& counts) {
  set.add_counter("conveyor_producer_tasks_read_total", "Tasks read from the source",
                  as_double(counts.produced));
  auto& results = set.counter("conveyor_producer_results_total", "Final results, by status");
  results.samples.push_back({{{"status", "ok"}}, as_double(counts.ok), {}, 0});
  results.samples.push_back({{{"status", "failed"}}, as_double(counts.failed), {}, 0});
  results.samples.push_back({{{"status", "dead"}}, as_double(counts.dead), {}, 0});
  set.add_counter("conveyor_producer_duplicate_results_total",
                  "Results dropped because the task was final already",
                  as_double(counts.duplicates));
}

void add_gauges(metrics::MetricSet& set, const Session& session, std::size_t window) {
  set.add_gauge("conveyor_producer_tasks_unfinished", "Tasks read and without a final result",
                as_double(session.unfinished()));
  set.add_gauge("conveyor_producer_window", "--window: unfinished tasks held at most",
                as_double(window));
  set.add_gauge("conveyor_producer_source_ended", "1 once the source is exhausted (or stopped)",
                session.source_ended() ? 1 : 0);
  set.add_gauge("conveyor_producer_connected", "1 while welcomed by the broker",
                session.connected() ? 1 : 0);
  set.gauge("conveyor_producer_info", "This producer's --id")
      .samples.push_back({{{"id", session.id()}}, 1, {}, 0});
}

}  // namespace

metrics::MetricSet producer_metrics(const Session& session, std::size_t window) {
  metrics::MetricSet set;
  add_counters(set, session.counts());
  add_gauges(set, session, window);
  return set;
}

}  // namespace conveyor::producer
