// broker::Core: read-only views of its state for the status command and the metrics. Plain data,
// built on request (once per status call or metrics round), never on the per-task path.
#include <algorithm>

#include "conveyor/broker/core.hpp"
#include "conveyor/broker/core_sessions.hpp"

namespace conveyor::broker {

void TaskTimeHistogram::observe(Duration elapsed) {
  const double seconds = std::max(0.0, std::chrono::duration<double>(elapsed).count());
  const auto bucket = std::lower_bound(bounds.begin(), bounds.end(), seconds) - bounds.begin();
  ++counts[static_cast<std::size_t>(bucket)];
  sum_seconds += seconds;
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
