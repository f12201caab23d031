// broker::Core: read-only views of its state for the status command and the metrics. Plain data,
// built on request (once per status call or metrics round), never on the per-task path.
#include <algorithm>

#include "conveyor/broker/core.hpp"
#include "conveyor/broker/core_sessions.hpp"

namespace conveyor::broker {

void TaskTimeHistogram::observe(Duration elapsed) {
  const Duration::rep ticks = std::max<Duration::rep>(0, elapsed.count());
  // A scan from the first bucket, not a binary search: nearly every task lands in the first.
  std::size_t bucket = 0;
  while (bucket < bound_ticks.size() && ticks > bound_ticks[bucket])
    ++bucket;
  ++counts[bucket];
  sum_seconds += std::chrono::duration<double>(Duration(ticks)).count();
  ++count;
}

std::vector<ConsumerView> Core::consumer_views(TimePoint now) const {
  std::vector<ConsumerView> views;
  views.reserve(consumers_.size());
  for (const auto& [serial, session] : consumers_) {
    ConsumerView view;
    view.id = session->id;
    view.address = session->address;
    view.in_flight = session->in_flight.size();
    view.capacity = session->capacity;
    view.completed = session->completed;
    view.connected_for = now - session->connected_at;
    view.queue = queues_[session->queue]->name;
    if (session->emit_to) view.emit_to = queues_[*session->emit_to]->name;
    views.push_back(std::move(view));
  }
  return views;
}

std::vector<ProducerView> Core::producer_views() const {
  std::vector<ProducerView> views;
  views.reserve(producers_.size());
  for (const auto& book : producers_) {
    ProducerView view;
    view.id = book->id;
    view.connected = book->connected();
    view.sent = book->tasks_accepted;
    view.received = book->results_final;
    view.results_pending = book->unacked.size();
    view.pilled = run_.pilled(book->slot);
    view.queue = queues_[book->queue]->name;
    views.push_back(std::move(view));
  }
  return views;
}

}  // namespace conveyor::broker
