#include "consumer/metrics.hpp"

namespace conveyor::consumer {
namespace {

double as_double(std::size_t n) {
  return static_cast<double>(n);
}

void add_counters(metrics::MetricSet& set, const Counts& counts) {
  set.add_counter("conveyor_consumer_tasks_received_total", "Tasks received from the broker",
                  as_double(counts.received));
  auto& results = set.counter("conveyor_consumer_results_total", "Results sent back, by status");
  results.samples.push_back({{{"status", "ok"}}, as_double(counts.ok), {}, 0});
  results.samples.push_back({{{"status", "failed"}}, as_double(counts.failed), {}, 0});
  set.add_counter("conveyor_consumer_tasks_handed_back_total",
                  "Unstarted tasks handed back to the broker (stop, capacity change)",
                  as_double(counts.handed_back));
}

bool finishing(const Session& session) {
  const auto phase = session.phase();
  return phase == Session::Phase::finishing || phase == Session::Phase::done;
}

void add_gauges(metrics::MetricSet& set, const ProcessView& process, const Session& session) {
  set.add_gauge("conveyor_consumer_tasks_running", "Tasks in a handler now",
                as_double(session.running()));
  set.add_gauge("conveyor_consumer_tasks_prefetched", "Tasks received and not started yet",
                as_double(session.pending()));
  set.add_gauge("conveyor_consumer_credit", "Tasks this consumer lets the broker send it at most",
                as_double(session.capacity()));
  set.add_gauge("conveyor_consumer_workers", "Handler threads (--concurrency)",
                as_double(process.workers));
  set.add_gauge("conveyor_consumer_handler_seconds",
                "Running mean of handler time per task, in seconds", process.handler_seconds);
  set.add_gauge("conveyor_consumer_connected", "1 while welcomed by the broker",
                session.connected() ? 1 : 0);
  set.add_gauge("conveyor_consumer_stopping", "1 after a pill or a signal: finishing, taking none",
                finishing(session) ? 1 : 0);
  set.gauge("conveyor_consumer_info", "This consumer's --id")
      .samples.push_back({{{"id", process.id}}, 1, {}, 0});
}

}  // namespace

metrics::MetricSet consumer_metrics(const ProcessView& process, const Session& session) {
  metrics::MetricSet set;
  add_counters(set, session.counts());
  add_gauges(set, process, session);
  return set;
}

}  // namespace conveyor::consumer
