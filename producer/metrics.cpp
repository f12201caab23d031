#include "conveyor/producer/metrics.hpp"

namespace conveyor::producer {
namespace {

// The results by status first: what a dashboard of producers is for.
void add_counters(metrics::MetricSet& set, const Counts& counts) {
  set.counter("conveyor_producer_results_total", "Final results, by status")
      .add_each("status", {{"ok", counts.ok}, {"failed", counts.failed}, {"dead", counts.dead}});
  set.add_counter("conveyor_producer_tasks_read_total", "Tasks read from the source",
                  counts.produced);
  set.add_counter("conveyor_producer_duplicate_results_total",
                  "Results dropped because the task was final already", counts.duplicates);
}

void add_gauges(metrics::MetricSet& set, const Session& session, std::size_t window) {
  set.add_gauge("conveyor_producer_tasks_unfinished", "Tasks read and without a final result",
                session.unfinished());
  set.add_gauge("conveyor_producer_window", "--window: unfinished tasks held at most", window);
  set.add_gauge("conveyor_producer_source_ended", "1 once the source is exhausted (or stopped)",
                session.source_ended() ? 1 : 0);
  set.add_gauge("conveyor_producer_connected", "1 while welcomed by the broker",
                session.link().welcomed() ? 1 : 0);
  set.gauge("conveyor_producer_info", "This producer's --id").add({{"id", session.id()}}, 1);
}

}  // namespace

metrics::MetricSet producer_metrics(const Session& session, std::size_t window) {
  metrics::MetricSet set;
  add_counters(set, session.counts());
  add_gauges(set, session, window);
  return set;
}

}  // namespace conveyor::producer
