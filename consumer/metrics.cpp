#include "conveyor/consumer/metrics.hpp"

namespace conveyor::consumer {
namespace {

void add_counters(metrics::MetricSet& set, const Counts& counts) {
  set.add_counter("conveyor_consumer_tasks_received_total", "Tasks received from the broker",
                  counts.received);
  set.counter("conveyor_consumer_results_total", "Results sent back, by status")
      .add_each("status", {{"ok", counts.ok}, {"failed", counts.failed}});
  set.add_counter("conveyor_consumer_tasks_handed_back_total",
                  "Unstarted tasks handed back to the broker (stop, capacity change)",
                  counts.handed_back);
  set.add_counter("conveyor_consumer_results_dropped_total",
                  "Results not sent: their delivery ended with an earlier connection",
                  counts.stale);
  set.add_counter("conveyor_consumer_results_too_large_total",
                  "Results over the broker's message limit, sent as failed", counts.too_large);
  set.add_counter("conveyor_consumer_tasks_timed_out_total", "Tasks cut short at --task-timeout",
                  counts.timed_out);
}

bool finishing(const Session& session) {
  const auto phase = session.phase();
  return phase == Session::Phase::finishing || phase == Session::Phase::done;
}

void add_gauges(metrics::MetricSet& set, const ProcessView& process, const Session& session) {
  set.add_gauge("conveyor_consumer_tasks_running", "Tasks in a handler now", session.running());
  set.add_gauge("conveyor_consumer_tasks_prefetched", "Tasks received and not started yet",
                session.pending());
  set.add_gauge("conveyor_consumer_credit", "Tasks this consumer lets the broker send it at most",
                session.capacity());
  set.add_gauge("conveyor_consumer_workers", "Handler threads (--concurrency)", process.workers);
  set.add_gauge("conveyor_consumer_handler_seconds",
                "Running mean of handler time per task, in seconds", process.handler_seconds);
  set.add_gauge("conveyor_consumer_connected", "1 while welcomed by the broker",
                session.link().welcomed() ? 1 : 0);
  set.add_gauge("conveyor_consumer_stopping", "1 after a pill or a signal: finishing, taking none",
                finishing(session) ? 1 : 0);
  set.gauge("conveyor_consumer_info", "This consumer's --id").add({{"id", process.id}}, 1);
}

}  // namespace

metrics::MetricSet consumer_metrics(const ProcessView& process, const Session& session) {
  metrics::MetricSet set;
  add_counters(set, session.counts());
  add_gauges(set, process, session);
  return set;
}

}  // namespace conveyor::consumer
