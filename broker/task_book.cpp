#include "conveyor/broker/task_book.hpp"

#include <cassert>

namespace conveyor::broker {

void TaskRecord::reset() {
  empty_keeping_small_buffer(payload);
  headers.Clear();
  queue = 0;
  deliveries = 0;
  emitted = 0;
  state = TaskState::queued;
  holder = 0;
  ticket = 0;
  received = {};
  lineage.reset();
}

TaskRecord* TaskBook::find(const TaskKey& key) {
  return key.producer < records_.size() ? records_[key.producer]->find(key.seq) : nullptr;
}

bool TaskBook::contains(const TaskKey& key) const {
  return key.producer < records_.size() && records_[key.producer]->contains(key.seq);
}

void TaskBook::add_queue(std::uint32_t queue) {
  if (queue >= loads_.size()) loads_.resize(queue + 1);
  if (queue >= fifos_.size()) fifos_.resize(queue + 1);
}

const QueueLoad& TaskBook::load(std::uint32_t queue) const {
  static const QueueLoad none;
  return queue < loads_.size() ? loads_[queue] : none;
}

TaskRecord& TaskBook::add(const TaskKey& key, TaskRecord record) {
  TaskRecord& added = add(key, record.queue);
  const std::uint64_t ticket = added.ticket;
  added = std::move(record);
  added.state = TaskState::queued;
  added.ticket = ticket;
  return added;
}

TaskRecord& TaskBook::add(const TaskKey& key, std::uint32_t queue) {
  TaskRecord* added = try_add(key, queue);
  assert(added != nullptr && "TaskBook::add: task already in the book");
  return *added;
}

TaskRecord* TaskBook::try_add(const TaskKey& key, std::uint32_t queue) {
  while (key.producer >= records_.size())
    records_.push_back(std::make_unique<SeqTable<TaskRecord>>());
  bool inserted = false;
  TaskRecord& added = records_[key.producer]->get_or_add(key.seq, &inserted);
  if (!inserted) return nullptr;
  ++size_;
  added.queue = queue;
  added.state = TaskState::queued;
  added.ticket = next_ticket_++;
  fifo_of(queue).push_back(Entry{key, added.ticket});
  ++queued_;
  QueueLoad& load = load_of(queue);
  ++load.held;
  ++load.queued;
  return &added;
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
    TaskRecord* found = find(entry.key);
    if (found == nullptr || found->state != TaskState::delayed || found->ticket != entry.ticket) {
      continue;  // stale: erased since
    }
    TaskRecord& record = *found;
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
    TaskRecord* record = find(entry.key);
    if (record == nullptr || record->state != TaskState::queued || record->ticket != entry.ticket) {
      continue;  // stale: the task was final or requeued since this entry was made
    }
    --queued_;
    --load_of(queue).queued;
    return std::make_pair(entry.key, record);
  }
  return std::nullopt;
}

void TaskBook::erase(const TaskKey& key) {
  if (TaskRecord* record = find(key)) erase(key, *record);
}

void TaskBook::erase(const TaskKey& key, TaskRecord& record) {
  assert(find(key) == &record);
  QueueLoad& load = load_of(record.queue);
  if (record.state == TaskState::queued) {
    --queued_;
    --load.queued;
  }
  if (record.state == TaskState::delayed) {
    --delayed_count_;
    --load.delayed;
  }
  --load.held;
  records_[key.producer]->erase(key.seq);
  --size_;
  // The FIFO entry, if any, is now stale; drop the backlog of stale entries when the book empties.
  if (size_ == 0) {
    for (auto& fifo : fifos_)
      fifo.clear();
    delayed_.clear();
  }
}

}  // namespace conveyor::broker
