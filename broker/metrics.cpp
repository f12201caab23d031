#include "conveyor/broker/metrics.hpp"

#include <limits>

namespace conveyor::broker {
namespace {

void add_totals(metrics::MetricSet& set, const Core& core) {
  const Stats& stats = core.stats();
  set.add_counter("conveyor_tasks_received_total", "Tasks accepted from producers",
                  static_cast<double>(stats.tasks_received));
  set.add_counter("conveyor_tasks_completed_total",
                  "Final results: ok + failed + dead (one per task)",
                  static_cast<double>(core.completed()));
  set.add_counter("conveyor_tasks_ok_total", "Final results with status ok",
                  static_cast<double>(stats.ok));
  set.add_counter("conveyor_tasks_failed_total", "Final results with status failed",
                  static_cast<double>(stats.failed));
  set.add_counter("conveyor_tasks_dead_total", "Tasks given up after --max-attempts deliveries",
                  static_cast<double>(stats.dead));
  set.add_counter("conveyor_tasks_redelivered_total",
                  "Deliveries lost (consumer gone, timed out) and put back in the queue",
                  static_cast<double>(stats.redelivered));
  set.add_counter("conveyor_tasks_retried_total",
                  "Failures scheduled to be tried again after --retry-delay",
                  static_cast<double>(stats.retried));
  set.add_counter("conveyor_tasks_timed_out_total",
                  "Deliveries cut short at a consumer's --task-timeout",
                  static_cast<double>(stats.timed_out));
  set.add_counter("conveyor_tasks_rejected_total",
                  "Tasks refused (stopping, beyond credit, batch too large)",
                  static_cast<double>(stats.rejected_tasks));
}

void add_gauges(metrics::MetricSet& set, const Core& core) {
  set.add_gauge("conveyor_tasks_delayed", "Retries waiting for their --retry-delay",
                static_cast<double>(core.delayed()));
  set.add_gauge("conveyor_queue_depth", "Tasks waiting for a consumer",
                static_cast<double>(core.queue_depth()));
  set.add_gauge("conveyor_queue_capacity", "--queue-capacity",
                static_cast<double>(core.config().queue_capacity));
  set.add_gauge("conveyor_tasks_in_flight", "Tasks held by consumers",
                static_cast<double>(core.in_flight()));
  set.add_gauge("conveyor_producers_connected", "Producer sessions connected",
                static_cast<double>(core.producers_connected()));
  set.add_gauge("conveyor_consumers_connected", "Consumer sessions connected",
                static_cast<double>(core.consumers()));
  set.add_gauge("conveyor_drained", "1 once every expected producer's tasks are final",
                core.drained() ? 1 : 0);
}

// Series per connected consumer: they go from the next scrape when its session ends.
void add_consumers(metrics::MetricSet& set, const Core& core, TimePoint now) {
  auto& in_flight = set.gauge("conveyor_consumer_tasks_in_flight", "Tasks held, by consumer");
  auto& capacity = set.gauge("conveyor_consumer_capacity", "Tasks a consumer can hold");
  auto& completed = set.counter("conveyor_consumer_tasks_completed_total",
                                "Results reported in the consumer's current session");
  for (const ConsumerView& c : core.consumer_views(now)) {
    const metrics::Labels labels{{"consumer", c.id}};
    in_flight.add(labels, static_cast<double>(c.in_flight));
    capacity.add(labels, static_cast<double>(c.capacity));
    completed.add(labels, static_cast<double>(c.completed));
  }
}

void add_queues(metrics::MetricSet& set, const Core& core) {
  auto& tasks = set.gauge("conveyor_queue_tasks", "Tasks of each named queue, by state");
  auto& consumers = set.gauge("conveyor_queue_consumers", "Consumers taking from each queue");
  auto& finished = set.gauge("conveyor_queue_finished",
                             "1 once no more work can reach the queue (its consumers pilled)");
  for (const QueueView& view : core.queue_views()) {
    tasks.add({{"queue", view.name}, {"state", "queued"}}, static_cast<double>(view.queued));
    tasks.add({{"queue", view.name}, {"state", "delayed"}}, static_cast<double>(view.delayed));
    tasks.add({{"queue", view.name}, {"state", "in_flight"}}, static_cast<double>(view.in_flight));
    consumers.add({{"queue", view.name}}, static_cast<double>(view.consumers));
    finished.add({{"queue", view.name}}, view.finished ? 1 : 0);
  }
}

void add_bad_frames(metrics::MetricSet& set, const Core& core) {
  auto& bad = set.counter("conveyor_bad_frames_total", "Bad input from peers, by kind");
  for (std::size_t i = 0; i < core.stats().bad_input.size(); ++i) {
    const char* kind = to_string(static_cast<BadInput>(i));
    bad.add({{"kind", kind}}, static_cast<double>(core.stats().bad_input[i]));
  }
}

void add_task_times(metrics::MetricSet& set, const Core& core) {
  const TaskTimeHistogram& times = core.task_times();
  metrics::Sample sample;
  std::uint64_t cumulative = 0;
  for (std::size_t i = 0; i < TaskTimeHistogram::bounds.size(); ++i) {
    cumulative += times.counts[i];
    sample.buckets.emplace_back(TaskTimeHistogram::bounds[i], cumulative);
  }
  sample.buckets.emplace_back(std::numeric_limits<double>::infinity(), times.count);
  sample.count = times.count;
  sample.value = times.sum_seconds;
  set.histogram("conveyor_task_duration_seconds",
                "Time from the broker's receipt of a task to its final result")
      .samples.push_back(std::move(sample));
}

// The keys gauges change on a SIGHUP that loads new lists, not on one that fails; the reload
// counter tells the two apart.
void add_curve(metrics::MetricSet& set, const CurveCounts& curve) {
  auto& handshakes =
      set.counter("conveyor_curve_handshakes_total", "CURVE handshakes decided, by result");
  handshakes.add({{"result", "admitted"}}, static_cast<double>(curve.admitted));
  handshakes.add({{"result", "refused"}}, static_cast<double>(curve.refused));
  auto& keys = set.gauge("conveyor_curve_keys", "Public keys admitted now, by list");
  keys.add({{"list", "producer"}}, static_cast<double>(curve.producer_keys));
  keys.add({{"list", "consumer"}}, static_cast<double>(curve.consumer_keys));
  auto& reloads =
      set.counter("conveyor_curve_key_reloads_total", "SIGHUP reloads of the key lists, by result");
  reloads.add({{"result", "loaded"}}, static_cast<double>(curve.reloads_loaded));
  reloads.add({{"result", "failed"}}, static_cast<double>(curve.reloads_failed));
}

}  // namespace

metrics::MetricSet broker_metrics(const Core& core, TimePoint now,
                                  const std::optional<CurveCounts>& curve) {
  metrics::MetricSet set;
  add_totals(set, core);
  add_gauges(set, core);
  add_consumers(set, core, now);
  add_queues(set, core);
  add_bad_frames(set, core);
  add_task_times(set, core);
  if (curve) add_curve(set, *curve);
  return set;
}

}  // namespace conveyor::broker
