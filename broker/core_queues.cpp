// broker::Core: named queues (DESIGN.md §7.4), the tasks handlers emit into them, and pills that
// flow stage by stage (the rules themselves are in broker/pipeline.hpp).
#include <algorithm>

#include "conveyor/broker/core.hpp"
#include "conveyor/broker/core_sessions.hpp"
#include "conveyor/common/task.hpp"

namespace conveyor::broker {
namespace {

const std::string kDefaultQueue = "default";

}  // namespace

std::optional<std::uint32_t> Core::queue_named(const std::string& name) {
  const std::string& key = name.empty() ? kDefaultQueue : name;
  if (auto it = queue_numbers_.find(key); it != queue_numbers_.end()) return it->second;
  if (queues_.size() >= config_.max_queues) return std::nullopt;  // bounded, like all else
  auto queue = std::make_unique<QueueBook>();
  queue->index = static_cast<std::uint32_t>(queues_.size());
  queue->name = key;
  queue_numbers_.emplace(key, queue->index);
  queues_.push_back(std::move(queue));
  // Not at info for the default queue: made at startup, before a bind error's one line.
  log_->log(key == kDefaultQueue ? spdlog::level::debug : spdlog::level::info, "queue {} created",
            key);
  return queues_.back()->index;
}

// The hello's queues: valid names, within --max-queues, and none already finished in this run
// (nothing would take a producer's tasks there, or an emitting consumer's).
std::optional<std::string> Core::check_queues(Side side, const wire::Hello& hello) {
  std::vector<std::string> names = {hello.queue()};
  if (side == Side::backend && !hello.emit_to().empty()) names.push_back(hello.emit_to());
  for (std::size_t i = 0; i < names.size(); ++i) {
    const std::string& name = names[i];
    if (!name.empty() && !is_valid_peer_id(name)) {
      return "invalid queue name '" + name + "': 1-64 characters of A-Z a-z 0-9 . _ -";
    }
    const auto queue = queue_named(name);
    if (!queue) return "--max-queues " + std::to_string(config_.max_queues) + " reached";
    const bool fed = side == Side::frontend || i == 1;  // tasks would go into it
    // After the drain a new producer process starts a new run, with every stage open again.
    if (fed && queues_[*queue]->finished && !run_.drained()) {
      return "queue " + queues_[*queue]->name +
             " is finished for this run: its consumers were pilled, nothing would take the tasks";
    }
  }
  return std::nullopt;
}

void Core::declare_emit_edge(ConsumerSession& consumer) {
  pipeline_.declare(consumer.queue);
  if (!consumer.emit_to) return;
  pipeline_.add_edge(consumer.queue, *consumer.emit_to);
}

std::string Core::id_of(const TaskKey& key, const TaskRecord& record) const {
  return record.lineage ? record.lineage->id : task_id(producers_[key.producer]->id, key.seq);
}

// §7.4: the tasks a result emits are registered before the result is final. They belong to the
// root task's producer; a later delivery of the same task emits the same tasks, kept once (by K).
void Core::emit_children(ConsumerSession& consumer, const TaskKey& key, TaskRecord& record,
                         const ResultView& result, TimePoint now) {
  const auto count = result.emit == nullptr ? 0 : static_cast<std::uint32_t>(result.emit->size());
  if (count == 0) return;
  if (!consumer.emit_to) {
    count_bad(BadInput::bad_emit, Side::backend, consumer.route, consumer.address,
              "consumer " + consumer.id + " emitted tasks without --emit-to", now);
    return;
  }
  ProducerBook& root = *producers_[key.producer];
  const std::string parent = id_of(key, record);
  for (std::uint32_t k = record.emitted; k < count; ++k) {
    TaskRecord child;
    child.payload = result.emit->Get(static_cast<int>(k));
    child.queue = *consumer.emit_to;
    child.received = now;
    child.lineage = std::make_unique<Lineage>(Lineage{parent + "/" + std::to_string(k), parent});
    book_.add(TaskKey{key.producer, kEmittedSeqBit | root.next_emitted++}, std::move(child));
    ++stats_.tasks_received;
  }
  record.emitted = std::max(record.emitted, count);
}

// §7.4: once every producer has pilled, a queue no task can reach any more has its consumers
// pilled, upstream stages first; the last ones go at the drain.
void Core::finish_stages() {
  const auto finished =
      pipeline_.finished(static_cast<std::uint32_t>(queues_.size()),
                         [&](std::uint32_t queue) { return book_.load(queue).held > 0; });
  for (std::uint32_t q = 0; q < queues_.size(); ++q) {
    QueueBook& queue = *queues_[q];
    if (!finished[q] || queue.finished) continue;
    queue.finished = true;
    std::size_t pilled = 0;
    for (auto& [serial, consumer] : consumers_) {
      if (consumer->queue != q || consumer->pilled) continue;
      consumer->pilled = true;
      wire::Envelope pill;
      pill.mutable_pill();
      send(*consumer, std::move(pill));
      ++pilled;
    }
    if (pilled > 0) {
      log_->info("queue {} is finished: no task can reach it; {} consumers pilled", queue.name,
                 pilled);
    }
  }
}

// Backpressure for a stage that emits: its consumers get no more tasks while the queue they emit
// into is at --queue-capacity, so that a fan-out waits for the next stage instead of growing
// without bound. Not within a cycle: a crawler waiting for its own queue to drain would wait for
// ever (a cycle is bounded by what its handler chooses to emit).
bool Core::emit_target_full(const ConsumerSession& consumer) const {
  if (!consumer.emit_to) return false;
  const QueueLoad& target = book_.load(*consumer.emit_to);
  if (target.queued + target.delayed < config_.queue_capacity) return false;
  return !pipeline_.reaches(*consumer.emit_to, consumer.queue);
}

// A new run: its stages start open, with the edges of the consumers still connected.
void Core::reset_stages() {
  pipeline_.clear();
  for (auto& queue : queues_)
    queue->finished = false;
  for (auto& [serial, consumer] : consumers_)
    declare_emit_edge(*consumer);
}

std::vector<QueueView> Core::queue_views() const {
  std::vector<QueueView> views;
  for (const auto& queue : queues_) {
    const QueueLoad& load = book_.load(queue->index);
    QueueView view;
    view.name = queue->name;
    view.queued = load.queued;
    view.delayed = load.delayed;
    view.in_flight = load.held - load.queued - load.delayed;
    view.finished = queue->finished;
    for (const auto& [serial, consumer] : consumers_)
      view.consumers += consumer->queue == queue->index ? 1 : 0;
    for (const std::uint32_t target : pipeline_.targets(queue->index))
      view.emits_to.push_back(queues_[target]->name);
    views.push_back(std::move(view));
  }
  return views;
}

}  // namespace conveyor::broker
