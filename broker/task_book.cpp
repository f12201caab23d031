#include "conveyor/broker/task_book.hpp"

#include <cassert>

namespace conveyor::broker {

TaskRecord* TaskBook::find(const TaskKey& key) {
  auto it = records_.find(key);
  return it == records_.end() ? nullptr : &it->second;
}

TaskRecord& TaskBook::add(const TaskKey& key, TaskRecord record) {
  record.state = TaskState::queued;
  record.ticket = next_ticket_++;
  auto [it, inserted] = records_.emplace(key, std::move(record));
  assert(inserted && "TaskBook::add: task already in the book");
  fifo_.push_back(Entry{key, it->second.ticket});
  ++queued_;
  count(key.producer, +1);
  return it->second;
}

void TaskBook::requeue_front(const TaskKey& key, TaskRecord& record) {
  assert(record.state != TaskState::queued);
  record.state = TaskState::queued;
  record.holder = 0;
  record.ticket = next_ticket_++;
  fifo_.push_front(Entry{key, record.ticket});
  ++queued_;
}

void TaskBook::delay(const TaskKey& key, TaskRecord& record, TimePoint until) {
  assert(record.state == TaskState::in_flight);
  record.state = TaskState::delayed;
  record.holder = 0;
  record.ticket = next_ticket_++;
  delayed_.emplace(until, Entry{key, record.ticket});
  ++delayed_count_;
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
    it->second.state = TaskState::queued;
    it->second.ticket = next_ticket_++;
    fifo_.push_back(Entry{entry.key, it->second.ticket});
    --delayed_count_;
    ++queued_;
    ++released;
  }
  return released;
}

std::optional<std::pair<TaskKey, TaskRecord*>> TaskBook::pop_queued() {
  while (!fifo_.empty()) {
    const Entry entry = fifo_.front();
    fifo_.pop_front();
    auto it = records_.find(entry.key);
    if (it == records_.end() || it->second.state != TaskState::queued ||
        it->second.ticket != entry.ticket) {
      continue;  // stale: the task was final or requeued since this entry was made
    }
    --queued_;
    return std::make_pair(entry.key, &it->second);
  }
  return std::nullopt;
}

void TaskBook::erase(const TaskKey& key) {
  auto it = records_.find(key);
  if (it == records_.end()) return;
  if (it->second.state == TaskState::queued) --queued_;
  if (it->second.state == TaskState::delayed) --delayed_count_;
  records_.erase(it);
  count(key.producer, -1);
  // The FIFO entry, if any, is now stale; drop the backlog of stale entries when the book empties.
  if (records_.empty()) {
    fifo_.clear();
    delayed_.clear();
  }
}

std::size_t TaskBook::held_for(std::uint32_t producer) const {
  return producer < per_producer_.size() ? per_producer_[producer] : 0;
}

void TaskBook::count(std::uint32_t producer, int delta) {
  if (producer >= per_producer_.size()) per_producer_.resize(producer + 1, 0);
  per_producer_[producer] += static_cast<std::size_t>(static_cast<long long>(delta));
}

}  // namespace conveyor::broker
