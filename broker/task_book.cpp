#include "conveyor/broker/task_book.hpp"

#include <cassert>

namespace conveyor::broker {

TaskRecord* TaskBook::find(const TaskKey& key) {
  auto it = records_.find(key);
  return it == records_.end() ? nullptr : &it->second;
}

QueueLoad& TaskBook::load_of(std::uint32_t queue) {
  if (queue >= loads_.size()) loads_.resize(queue + 1);
  return loads_[queue];
}

std::deque<TaskBook::Entry>& TaskBook::fifo_of(std::uint32_t queue) {
  if (queue >= fifos_.size()) fifos_.resize(queue + 1);
  return fifos_[queue];
}

const QueueLoad& TaskBook::load(std::uint32_t queue) const {
  static const QueueLoad none;
  return queue < loads_.size() ? loads_[queue] : none;
}

TaskRecord& TaskBook::add(const TaskKey& key, TaskRecord record) {
  record.state = TaskState::queued;
  record.ticket = next_ticket_++;
  auto [it, inserted] = records_.emplace(key, std::move(record));
  assert(inserted && "TaskBook::add: task already in the book");
  TaskRecord& added = it->second;
  fifo_of(added.queue).push_back(Entry{key, added.ticket});
  ++queued_;
  QueueLoad& load = load_of(added.queue);
  ++load.held;
  ++load.queued;
  return added;
}

void TaskBook::requeue_front(const TaskKey& key, TaskRecord& record) {
  assert(record.state != TaskState::queued);
  if (record.state == TaskState::delayed) {
    --delayed_count_;
    --load_of(record.queue).delayed;
  }
  record.state = TaskState::queued;
  record.holder = 0;
  record.ticket = next_ticket_++;
  fifo_of(record.queue).push_front(Entry{key, record.ticket});
  ++queued_;
  ++load_of(record.queue).queued;
}

void TaskBook::delay(const TaskKey& key, TaskRecord& record, TimePoint until) {
  assert(record.state == TaskState::in_flight);
  record.state = TaskState::delayed;
  record.holder = 0;
  record.ticket = next_ticket_++;
  delayed_.emplace(until, Entry{key, record.ticket});
  ++delayed_count_;
  ++load_of(record.queue).delayed;
}

std::size_t TaskBook::release_due(TimePoint now) {
  std::size_t released = 0;
  while (!delayed_.empty() && delayed_.begin()->first <= now) {
    const Entry entry = delayed_.begin()->second;
    delayed_.erase(delayed_.begin());
    auto it = records_.find(entry.key);
    if (it == records_.end() || it->second.state != TaskState::delayed ||
        it->second.ticket != entry.ticket) {
      continue;  // stale: erased since
    }
    TaskRecord& record = it->second;
    record.state = TaskState::queued;
    record.ticket = next_ticket_++;
    fifo_of(record.queue).push_back(Entry{entry.key, record.ticket});
    --delayed_count_;
    ++queued_;
    QueueLoad& load = load_of(record.queue);
    --load.delayed;
    ++load.queued;
    ++released;
  }
  return released;
}

std::optional<std::pair<TaskKey, TaskRecord*>> TaskBook::pop_queued(std::uint32_t queue) {
  std::deque<Entry>& fifo = fifo_of(queue);
  while (!fifo.empty()) {
    const Entry entry = fifo.front();
    fifo.pop_front();
    auto it = records_.find(entry.key);
    if (it == records_.end() || it->second.state != TaskState::queued ||
        it->second.ticket != entry.ticket) {
      continue;  // stale: the task was final or requeued since this entry was made
    }
    --queued_;
    --load_of(queue).queued;
    return std::make_pair(entry.key, &it->second);
  }
  return std::nullopt;
}

void TaskBook::erase(const TaskKey& key) {
  auto it = records_.find(key);
  if (it == records_.end()) return;
  QueueLoad& load = load_of(it->second.queue);
  if (it->second.state == TaskState::queued) {
    --queued_;
    --load.queued;
  }
  if (it->second.state == TaskState::delayed) {
    --delayed_count_;
    --load.delayed;
  }
  --load.held;
  records_.erase(it);
  // The FIFO entry, if any, is now stale; drop the backlog of stale entries when the book empties.
  if (records_.empty()) {
    for (auto& fifo : fifos_)
      fifo.clear();
    delayed_.clear();
  }
}

}  // namespace conveyor::broker
