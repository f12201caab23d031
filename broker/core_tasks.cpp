// broker::Core: what happens to tasks as messages arrive and sessions come and go.
#include <algorithm>
#include <cassert>
#include <map>

#include "conveyor/broker/core.hpp"
#include "conveyor/broker/core_sessions.hpp"
#include "conveyor/common/task.hpp"

namespace conveyor::broker {

void Core::on_tasks(ProducerBook& producer, std::span<TaskView> tasks, TimePoint now) {
  const bool too_many = tasks.size() > config_.max_batch_tasks;
  std::vector<std::uint64_t> rejected;
  for (const TaskView& task : tasks) {
    if (stopping_ || too_many || producer.outstanding == 0) {
      rejected.push_back(task.seq);
    } else {
      accept_task(producer, task, now);
    }
  }
  if (!rejected.empty()) refuse_tasks(producer, std::move(rejected), too_many, now);
}

void Core::accept_task(ProducerBook& producer, const TaskView& task, TimePoint now) {
  --producer.outstanding;
  --queues_[producer.queue]->outstanding;
  const TaskKey key{producer.slot, task.seq};
  if (task.payload.size() > config_.max_payload_bytes) [[unlikely]] {
    return fail_oversized(producer, key, task.payload.size());
  }
  TaskRecord* record =
      producer.unacked.contains(key.seq) ? nullptr : book_.try_add(key, producer.queue);
  if (record == nullptr) {
    ++stats_.duplicate_tasks;  // sent again after a reconnect: we hold it already
    return;
  }
  count_accepted(producer);
  // The one copy at-least-once needs: the frame is gone once this message is handled. It goes
  // into the reused record's buffer (emptied, its capacity kept), so steady state does not
  // allocate. append(), not assign(): assign() goes through _M_replace, which also handles a
  // source inside the string itself, about 99 instructions per 64 B task against 36.
  record->payload.append(task.payload);
  if (task.headers != nullptr) record->headers.Swap(task.headers);
  record->received = now;
}

// A payload over --max-payload-bytes: final at once (FAILED), it never waits in the book or in
// its queue's FIFO.
void Core::fail_oversized(ProducerBook& producer, const TaskKey& key, std::size_t bytes) {
  if (book_.contains(key) || producer.unacked.contains(key.seq)) {
    ++stats_.duplicate_tasks;
    return;
  }
  count_accepted(producer);
  const std::string error = "payload of " + std::to_string(bytes) +
                            " bytes is over the broker's --max-payload-bytes " +
                            std::to_string(config_.max_payload_bytes);
  deliver_final(producer, key.seq, Outcome::by_broker(wire::FAILED, error), TaskFacts{},
                Duration::zero());
}

void Core::count_accepted(ProducerBook& producer) {
  ++stats_.tasks_received;
  ++producer.tasks_accepted;
  run_.on_work(producer.slot);
}

// Refused tasks stay the producer's: the error lists them, and it sends them again later.
void Core::refuse_tasks(ProducerBook& producer, std::vector<std::uint64_t> seqs, bool too_many,
                        TimePoint now) {
  stats_.rejected_tasks += seqs.size();
  wire::Envelope refusal;
  auto* error = refusal.mutable_error();
  error->mutable_rejected_seqs()->Add(seqs.begin(), seqs.end());
  if (stopping_) {
    error->set_code(wire::SHUTTING_DOWN);
    error->set_text("the broker is shutting down and takes no new tasks");
  } else if (too_many) {
    error->set_code(wire::TOO_LARGE);
    error->set_text("more than --max-batch-tasks " + std::to_string(config_.max_batch_tasks) +
                    " tasks in one message");
  } else {
    error->set_code(wire::CREDIT_EXCEEDED);
    error->set_text("tasks beyond the granted credit");
    count_bad(BadInput::credit_exceeded, Side::frontend, *producer.route, producer.address,
              std::to_string(seqs.size()) + " tasks beyond credit", now);
  }
  send(producer, std::move(refusal));
}

void Core::on_pill(ProducerBook& producer, const wire::Pill& pill, TimePoint now) {
  producer.session_pilled = true;
  queues_[producer.queue]->outstanding -= producer.outstanding;  // it sends no more: free
  producer.outstanding = 0;
  if (!run_.joined(producer.slot)) {
    count_bad(BadInput::out_of_run, Side::frontend, *producer.route, producer.address,
              "a pill from producer " + producer.id + ", which is not in the current run", now);
    return;
  }
  if (!run_.on_pill(producer.slot)) return;  // §2.1: a second pill counts for nothing
  log_->info("producer {} sent its pill after {} tasks ({} of {} producers done)", producer.id,
             pill.tasks(), run_.done(), run_.pills_needed());
}

void Core::on_producer_goodbye(ProducerBook& producer, const wire::Goodbye& goodbye,
                               TimePoint now) {
  if (producer.unacked.empty()) {
    log_->info("producer {} said goodbye{}", producer.id,
               goodbye.reason().empty() ? "" : " (" + goodbye.reason() + ")");
  } else {
    log_->warn("producer {} said goodbye with {} results unacknowledged; they wait for it",
               producer.id, producer.unacked.size());
  }
  detach_producer(producer, now);
}

void Core::on_results(ConsumerSession& consumer, std::span<ResultView> results, TimePoint now) {
  for (const ResultView& result : results)
    on_result(consumer, result, now);
}

// §7.1: a result counts only from the session that holds that delivery of its task (the task,
// and the attempt it was given as). Anything else (a task never given, given to another
// consumer, an older delivery) is bad input and changes nothing: it can neither be written to a
// producer's results nor displace the real result.
TaskRecord* Core::held_delivery(const ConsumerSession& consumer, const ResultView& result,
                                TaskKey& key) {
  const auto found = key_of(result.producer, result.seq);
  if (!found) return nullptr;
  key = *found;
  TaskRecord* record = book_.find(key);
  if (record == nullptr || record->state != TaskState::in_flight ||
      record->holder != consumer.serial || result.attempts != record->deliveries) {
    return nullptr;
  }
  return record;
}

void Core::on_result(ConsumerSession& consumer, const ResultView& result, TimePoint now) {
  TaskKey key;
  TaskRecord* record = held_delivery(consumer, result, key);
  if (record == nullptr) {
    count_bad(BadInput::not_holder, Side::backend, consumer.route, consumer.address,
              "consumer " + consumer.id + " sent a result for " +
                  task_id(result.producer, result.seq) + " attempt " +
                  std::to_string(result.attempts) + ", a delivery it does not hold",
              now);
    return;
  }
  consumer.in_flight.erase(key);
  ++consumer.completed;
  if (result.status == wire::OK) {
    // Hot (Core::is_hot) only on work done: a consumer failing fast, or one whose task timed out,
    // must not be the first in line for the retry.
    consumer.awaiting_work = true;
    consumer.reported_at = now;
  }
  // Before the result is final. Tested here: a call that returns at once still cost 25
  // instructions per result, the frame of its rare path set up first.
  if (result.emit != nullptr && !result.emit->empty()) {
    emit_children(consumer, key, *record, result, now);
  }
  // Only the broker says dead: anything but OK from a consumer is FAILED.
  Outcome outcome{.status = result.status == wire::OK ? wire::OK : wire::FAILED,
                  .output = result.output,
                  .error = result.error,
                  .consumer = consumer.id};
  if (outcome.status == wire::OK) return finalize(key, *record, outcome);
  if (result.timed_out || result.lost) {
    // Cut short (--task-timeout, a worker process that died): like a consumer lost while
    // holding it, it goes again at once, the attempt counted.
    stats_.timed_out += result.timed_out ? 1 : 0;
    return lose_delivery(key, *record, result.error);
  }
  if (result.retry || config_.retry_failed) return retry_later(key, *record, outcome, now);
  finalize(key, *record, outcome);
}

// §7.2: a retried task waits in the delay queue (--retry-delay, doubling per attempt, full
// jitter) and then joins the queue's tail; after --max-attempts deliveries it is dead.
void Core::retry_later(const TaskKey& key, TaskRecord& record, Outcome outcome, TimePoint now) {
  if (record.deliveries < config_.max_attempts) {
    book_.delay(key, record, now + retry_delay_.next(record.deliveries));
    ++stats_.retried;
    return;
  }
  const std::string error = "failed " + std::to_string(record.deliveries) +
                            " times (--max-attempts); last error: " + std::string(outcome.error);
  log_->warn("task {} is dead: {}", id_of(key, record), error);
  outcome.status = wire::DEAD;
  outcome.error = error;
  finalize(key, record, outcome);
}

void Core::on_credit(ConsumerSession& consumer, const wire::Credit& credit, TimePoint now) {
  if (credit.has_capacity()) {
    consumer.capacity = std::min(credit.capacity(), config_.max_consumer_capacity);
  }
  release_all(consumer, credit.released(), {}, false, now);
  if (credit.released_size() > 0) {
    log_->info("consumer {} handed back {} unstarted tasks; capacity now {}", consumer.id,
               credit.released_size(), consumer.capacity);
  }
}

void Core::on_consumer_goodbye(ConsumerSession& consumer, const wire::Goodbye& goodbye,
                               TimePoint now) {
  release_all(consumer, goodbye.released(), goodbye.abandoned(), true, now);
  const std::string reason = goodbye.reason().empty() ? "" : " (" + goodbye.reason() + ")";
  log_->info("consumer {} said goodbye{} after {} results; {} handed back, {} cut short",
             consumer.id, reason, consumer.completed, goodbye.released_size(),
             goodbye.abandoned_size());
  end_consumer(consumer.serial, "left");
}

void Core::finalize(const TaskKey& key, TaskRecord& record, const Outcome& outcome) {
  TaskFacts facts;
  facts.attempts = record.deliveries;
  facts.emitted = record.emitted;
  if (record.lineage) {  // an emitted task: its producer learns where it comes from
    facts.id = record.lineage->id;
    facts.parent = record.lineage->parent;
    facts.queue = queues_[record.queue]->name;
  }
  deliver_final(*producers_[key.producer], key.seq, outcome, facts, last_now_ - record.received);
  book_.erase(key, record);
}

void Core::deliver_final(ProducerBook& producer, std::uint64_t seq, const Outcome& outcome,
                         const TaskFacts& facts, Duration task_time) {
  task_times_.observe(task_time);
  ++producer.results_final;
  switch (outcome.status) {
    case wire::OK:
      ++stats_.ok;
      break;
    case wire::DEAD:
      ++stats_.dead;
      break;
    default:
      ++stats_.failed;
  }
  if (producer.to_send.empty()) results_pending_.push_back(producer.slot);
  producer.to_send.push_back(seq);
  bool added = false;
  FinalResult& final = producer.unacked.get_or_add(seq, &added);
  if (!added) final.reset();  // cannot happen (a task in the book has no final result): be safe
  final.write(seq, outcome, facts);
}

void Core::release_all(ConsumerSession& consumer,
                       const google::protobuf::RepeatedPtrField<wire::TaskRef>& released,
                       const google::protobuf::RepeatedPtrField<wire::TaskRef>& abandoned,
                       bool ending, TimePoint now) {
  std::map<TaskKey, bool> handed_back;  // task -> counts as an attempt; the first listing wins
  std::size_t not_held = 0;
  const auto list = [&](const wire::TaskRef& ref, bool attempt) {
    const auto key = key_of(ref.producer(), ref.seq());
    if (key && consumer.in_flight.contains(*key)) {
      handed_back.emplace(*key, attempt);
    } else {
      ++not_held;
    }
  };
  for (const auto& ref : released)
    list(ref, false);
  for (const auto& ref : abandoned)
    list(ref, true);
  if (not_held > 0) {
    count_bad(BadInput::not_held, Side::backend, consumer.route, consumer.address,
              "consumer " + consumer.id + " handed back " + std::to_string(not_held) +
                  " tasks it does not hold",
              now);
  }
  if (ending) {
    // Not listed: lost, as with a consumer that died.
    consumer.in_flight.for_each([&](const TaskKey& key) { handed_back.emplace(key, true); });
  }
  // Each goes to the head of the queue, whatever order the consumer listed them in: put them back
  // highest first so that the lowest ends up first, as end_consumer() does.
  for (auto it = handed_back.rbegin(); it != handed_back.rend(); ++it)
    release(consumer, it->first, it->second);
}

void Core::release(ConsumerSession& consumer, const TaskKey& key, bool count_attempt) {
  TaskRecord* record = book_.find(key);
  consumer.in_flight.erase(key);
  if (record == nullptr) return;  // cannot fail: in_flight and the book change together
  if (count_attempt) {
    lose_delivery(key, *record, "cut short by consumer " + consumer.id);
  } else {
    --record->deliveries;  // never started: this delivery does not count as an attempt
    book_.requeue_front(key, *record);
  }
}

void Core::lose_delivery(const TaskKey& key, TaskRecord& record, std::string_view why) {
  if (record.deliveries < config_.max_attempts) {
    book_.requeue_front(key, record);
    ++stats_.redelivered;
    return;
  }
  const std::string error = "lost " + std::to_string(record.deliveries) +
                            " times (--max-attempts); last: " + std::string(why);
  log_->warn("task {} is dead: {}", task_id(producers_[key.producer]->id, key.seq), error);
  finalize(key, record, Outcome::by_broker(wire::DEAD, error));
}

void Core::end_consumer(std::uint64_t serial, const std::string& why) {
  auto it = consumers_.find(serial);
  if (it == consumers_.end()) return;
  ConsumerSession& consumer = *it->second;
  // Requeue in descending order: each goes to the head, so the lowest ends up first.
  std::vector<TaskKey> held;
  consumer.in_flight.for_each([&](const TaskKey& key) { held.push_back(key); });
  std::sort(held.begin(), held.end(), std::greater<>());
  consumer.in_flight.clear();
  for (const TaskKey& key : held) {
    if (TaskRecord* record = book_.find(key)) {
      lose_delivery(key, *record, "consumer " + consumer.id + " " + why);
    }
  }
  if (!held.empty()) {
    log_->warn("consumer {} {} holding {} tasks: they go back to the queue", consumer.id, why,
               held.size());
  }
  consumer_routes_.erase(consumer.route);
  consumers_.erase(it);
}

void Core::detach_producer(ProducerBook& producer, TimePoint now, bool gone) {
  if (!producer.connected()) return;
  if (gone && run_.on_gone(producer.slot)) {
    log_->info("producer {} left without a task or its pill: the run does not wait for it",
               producer.id);
  }
  producer_routes_.erase(*producer.route);
  producer.route.reset();
  queues_[producer.queue]->outstanding -= producer.outstanding;
  producer.outstanding = 0;
  producer.session_pilled = false;
  producer.detached_at = now;
}

std::optional<TaskKey> Core::key_of(std::string_view producer, std::uint64_t seq) const {
  // A batch of results is nearly always for one producer: comparing with the last one found
  // costs a few instructions where hashing the id costs a hundred. (Slots are never reused, so
  // the remembered one cannot go stale.)
  if (last_key_slot_ && producers_[*last_key_slot_]->id == producer) {
    return TaskKey{*last_key_slot_, seq};
  }
  auto it = producer_slots_.find(producer);
  if (it == producer_slots_.end()) return std::nullopt;
  last_key_slot_ = it->second;
  return TaskKey{it->second, seq};
}

std::uint32_t Core::producer_slot(const std::string& id) {
  if (auto it = producer_slots_.find(id); it != producer_slots_.end()) return it->second;
  const auto slot = static_cast<std::uint32_t>(producers_.size());
  auto book = std::make_unique<ProducerBook>();
  book->slot = slot;
  book->id = id;
  producers_.push_back(std::move(book));
  producer_slots_.emplace(id, slot);
  return slot;
}

SignalAction Core::on_signal(int signo, TimePoint now) {
  const SignalAction action = signals_.on_signal();
  if (action == SignalAction::drain) {
    log_->info("{} received: stopping in order", signal_name(signo));
    begin_stop(now);
  } else {
    log_->warn("{} received again: stopping now with {} tasks held; producers keep theirs",
               signal_name(signo), book_.size());
  }
  return action;
}

void Core::begin_stop(TimePoint now) {
  if (stopping_) return;
  last_now_ = now;
  stopping_ = true;
  for (auto& p : producers_)
    p->outstanding = 0;
  for (auto& queue : queues_)
    queue->outstanding = 0;
  log_->info(
      "stopping: no new tasks; {} queued and {} in flight will finish before consumers are "
      "pilled (signal again to stop now)",
      book_.queued(), in_flight());
}

void Core::on_undeliverable(const Outgoing& message, TimePoint now) {
  last_now_ = now;
  if (message.side == Side::backend) {
    if (auto it = consumer_routes_.find(message.route); it != consumer_routes_.end()) {
      end_consumer(it->second, "could not be reached");
    }
  } else if (auto it = producer_routes_.find(message.route); it != producer_routes_.end()) {
    ProducerBook& producer = *producers_[it->second];
    log_->warn("producer {} could not be reached; its results wait for it", producer.id);
    detach_producer(producer, now);
  }
}

}  // namespace conveyor::broker
