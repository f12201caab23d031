// broker::Core: turning state into messages, once per poll round (dispatch, results, credit,
// drain) and once per tick (heartbeats, liveness).
#include <algorithm>

#include "conveyor/broker/core.hpp"
#include "conveyor/broker/core_sessions.hpp"

namespace conveyor::broker {
namespace {

// Batches are cut at about this size so that no message nears --max-message-bytes.
std::size_t batch_target_bytes(const Config& config) {
  return std::min<std::size_t>(1u << 20, config.max_message_bytes / 4);
}

// What recycling may hold on to, so that reuse never becomes a leak: a few batch buffers, none
// over kMaxKeptBatchBytes (batch_writer.hpp). Worst case 8 x 2 MiB; in practice a few batches'
// worth.
constexpr std::size_t kMaxSpareBatches = 8;

// Dispatch deals each consumer a quarter of its capacity before the next one is served. Spread
// one task at a time, a short queue wakes every consumer for a few tasks each: on 2 cores, 16
// echo consumers did 426-528 k tasks/s dealt one by one and 644-800 k dealt 512 at a time (1 M
// tasks, cpu_split.sh, three runs each). With --prefetch auto a consumer's capacity is about 5 ms
// of its work, so a quarter of it is about a millisecond: no task waits much longer than it
// would have spread thin, and slow tasks (capacity near --concurrency, under 8) are still dealt
// one by one. An explicit --prefetch N deals up to N / 4 at once: a burst of slow tasks may then
// go unevenly (--concurrency 1 --prefetch 20: five to one consumer before the next gets one);
// the broker does not know a consumer's concurrency to cap the share by it.
//
// A hot consumer (is_hot: a result of its was OK in the last kHotFor, and nothing was dealt to
// it since) is served first and refilled whole: its workers just freed up and it is awake, so
// what it gets starts at once while the others sleep (and, we think, keep their caches cold for
// nothing). Quarters to everyone, round-robin, woke each of 16 echo consumers in turn;
// serving the hot ones first, alternating builds on 2 cores (CONSUMERS=16 TASKS=1000000
// cpu_split.sh, six pairs) did 0.99-1.39 M tasks/s against 0.79-1.05 M, means 1.12 M and 0.90 M;
// with 2 consumers 1.44 M and 1.43 M (five pairs). After a quiet spell no one is hot and a burst
// is dealt in quarters as before. What it costs: a burst that comes within kHotFor of a
// consumer's results goes first to that consumer, up to all its credit (under --prefetch auto
// about 5 ms of its work; with an explicit deep --prefetch and slow tasks, more) while other
// consumers may be idle.
constexpr std::size_t kDealShare = 4;
// Long enough for the producer's next tasks to arrive after the results that freed the credit on
// a loaded machine, short enough that "hot" still means awake. Only 5 ms was measured.
constexpr Duration kHotFor = std::chrono::milliseconds(5);

}  // namespace

void Core::recycle(Outgoing&& message) {
  if (message.batch) recycle(std::move(*message.batch));
}

void Core::recycle(BatchWriter&& batch) {
  if (spare_batches_.size() >= kMaxSpareBatches || batch.capacity() > kMaxKeptBatchBytes) return;
  spare_batches_.push_back(std::move(batch));
}

BatchWriter Core::spare_batch(BatchWriter::Kind kind) {
  BatchWriter batch;
  if (!spare_batches_.empty()) {
    batch = std::move(spare_batches_.back());
    spare_batches_.pop_back();
  }
  batch.start(kind);
  return batch;
}

void Core::flush(TimePoint now) {
  last_now_ = now;
  book_.release_due(now);  // retries whose wait is over join the queue's tail
  dispatch();
  send_results();
  grant_credit();
  check_drained(now);
}

void Core::on_tick(TimePoint now) {
  last_now_ = now;
  check_liveness(now);
  send_heartbeats(now);
}

bool Core::is_hot(const ConsumerSession& consumer) const {
  return consumer.awaiting_work && last_now_ - consumer.reported_at <= kHotFor;
}

// The hot consumers first, then round-robin over the others with credit, resuming after the last
// cold one served: fair among those that wait, and a consumer that joins mid-run is served in the
// very next round unless hot ones take all there is.
std::vector<Core::DispatchSlot> Core::consumers_with_credit(QueueBook& queue) {
  std::vector<DispatchSlot> slots;
  auto collect = [&](bool hot, auto from, auto to) {
    for (auto it = from; it != to; ++it) {
      ConsumerSession& consumer = *it->second;
      if (consumer.queue != queue.index || emit_target_full(consumer)) continue;
      if (is_hot(consumer) != hot) continue;
      if (const std::size_t credit = consumer.free_credit()) {
        slots.push_back(DispatchSlot{&consumer, credit, hot, {}});
      }
    }
  };
  const auto resume = consumers_.upper_bound(queue.dispatch_cursor);
  for (const bool hot : {true, false}) {
    collect(hot, resume, consumers_.end());
    collect(hot, consumers_.begin(), resume);
  }
  return slots;
}

void Core::dispatch() {
  if (book_.queued() == 0) return;
  for (auto& queue : queues_) {
    if (book_.load(queue->index).queued > 0) dispatch_queue(*queue);
  }
}

void Core::dispatch_queue(QueueBook& queue) {
  std::vector<DispatchSlot> slots = consumers_with_credit(queue);
  std::size_t active = slots.size();
  bool more = true;
  for (std::size_t i = 0; active > 0 && more; i = (i + 1) % slots.size()) {
    DispatchSlot& slot = slots[i];
    if (slot.credit == 0) continue;
    more = deal(queue, slot);
    if (slot.credit == 0) --active;
  }
  for (DispatchSlot& slot : slots) {
    if (slot.batch) send(*slot.consumer, std::move(*slot.batch));
  }
}

// Up to one share (kDealShare) of the slot's consumer's capacity from the head of the queue, or
// all its credit if it is hot; false once the queue has nothing left.
bool Core::deal(QueueBook& queue, DispatchSlot& slot) {
  const std::size_t share =
      slot.hot ? slot.credit : std::max<std::size_t>(1, slot.consumer->capacity / kDealShare);
  for (std::size_t n = 0; n < share && slot.credit > 0; ++n, --slot.credit) {
    auto next = book_.pop_queued(queue.index);
    if (!next) return false;
    deliver(slot, next->first, *next->second);
    if (!slot.hot) queue.dispatch_cursor = slot.consumer->serial;
  }
  return true;
}

// A new delivery of `key` to the slot's consumer: only its result for this attempt will count.
void Core::deliver(DispatchSlot& slot, const TaskKey& key, TaskRecord& record) {
  if (!slot.batch) slot.batch.emplace(spare_batch(BatchWriter::Kind::tasks));
  const std::string& producer = producers_[key.producer]->id;
  const std::uint32_t attempt = ++record.deliveries;
  const std::string_view id = record.lineage ? std::string_view(record.lineage->id) : "";
  using T = wire::Task;
  slot.batch->add([&](auto& task) {  // wire::Task, field by field, in field-number order
    task.bytes(T::kProducerFieldNumber, producer);
    task.varint(T::kSeqFieldNumber, key.seq);
    task.varint(T::kAttemptFieldNumber, attempt);
    task.bytes(T::kPayloadFieldNumber, record.payload);
    for (const wire::Header& header : record.headers) {
      task.message(T::kHeadersFieldNumber, [&](auto& h) {
        h.bytes(wire::Header::kKeyFieldNumber, header.key());
        h.bytes(wire::Header::kValueFieldNumber, header.value());
      });
    }
    task.bytes(T::kIdFieldNumber, id);
  });
  record.state = TaskState::in_flight;
  record.holder = slot.consumer->serial;
  slot.consumer->in_flight.insert(key);
  slot.consumer->awaiting_work = false;
  if (slot.batch->bytes() >= batch_target_bytes(config_)) {
    send(*slot.consumer, std::move(*slot.batch));
    slot.batch.reset();
  }
}

void Core::send_results() {
  const std::size_t target = batch_target_bytes(config_);
  for (const std::uint32_t slot : results_pending_) {
    ProducerBook& producer = *producers_[slot];
    if (!producer.connected()) {
      producer.to_send.clear();  // kept in `unacked`: sent again when it says hello
      continue;
    }
    BatchWriter batch = spare_batch(BatchWriter::Kind::results);
    for (const std::uint64_t seq : producer.to_send) {
      FinalResult* result = producer.unacked.find(seq);
      if (result == nullptr) continue;
      batch.add_encoded(result->encoded());
      result->sent = true;
      if (batch.bytes() >= target) {
        send(producer, std::move(batch));
        batch = spare_batch(BatchWriter::Kind::results);
      }
    }
    if (batch.count() > 0) send(producer, std::move(batch));
    producer.to_send.clear();
  }
  results_pending_.clear();
}

void Core::grant_credit() {
  if (stopping_ || producers_.empty()) return;
  for (auto& queue : queues_)
    grant_queue_credit(*queue);
  grant_cursor_ = (grant_cursor_ + 1) % static_cast<std::uint32_t>(producers_.size());
}

// Each queue's capacity is shared by its producers.
void Core::grant_queue_credit(QueueBook& queue) {
  const auto capacity = static_cast<long long>(config_.queue_capacity);
  const QueueLoad& load = book_.load(queue.index);
  // Retries waiting in the delay queue count against the capacity like queued tasks: they will
  // be queued again, and the delay queue is bounded by it too.
  long long room =
      capacity - static_cast<long long>(load.queued + load.delayed + queue.outstanding);
  if (room <= 0) return;
  std::vector<ProducerBook*> eligible;
  for (std::size_t n = 0; n < producers_.size(); ++n) {
    ProducerBook& p = *producers_[(grant_cursor_ + n) % producers_.size()];
    // Results waiting for their acknowledgement are bounded too: no credit past a queue's worth.
    if (p.connected() && p.queue == queue.index && !p.session_pilled &&
        p.unacked.size() < config_.queue_capacity) {
      eligible.push_back(&p);
    }
  }
  if (eligible.empty()) return;
  // Each producer may hold up to an equal share; top it up only once half is used, so grants
  // travel in a few large messages rather than one per task.
  const long long share =
      std::max<long long>(1, capacity / static_cast<long long>(eligible.size()));
  const long long threshold = std::max<long long>(1, share / 2);
  for (ProducerBook* p : eligible) {
    const long long want = share - static_cast<long long>(p->outstanding);
    if (want < threshold) continue;
    const long long grant = std::min(want, room);
    p->outstanding += static_cast<std::uint32_t>(grant);
    queue.outstanding += static_cast<std::size_t>(grant);
    room -= grant;
    wire::Envelope envelope;
    envelope.mutable_credit()->set_grant(static_cast<std::uint32_t>(grant));
    send(*p, std::move(envelope));
    if (room <= 0) break;
  }
}

void Core::check_drained(TimePoint now) {
  if (finished_) return;
  // §7.4: stage by stage, once no more work can reach a queue (not in --service mode, where the
  // consumers stay for the next run until a stop). Other queues may still hold tasks.
  if (!run_.drained() && run_.producers_done(stopping_) && (!config_.service || stopping_)) {
    finish_stages();
  }
  if (!book_.empty()) return;
  if (run_.drained()) {
    // §2.5, a stop after a drain (no --exit-when-drained): producers were told already; consumers
    // were pilled then too, except in --service mode, where the stop is what ends them.
    if (stopping_) {
      pill_consumers();
      finished_ = true;
    }
    return;
  }
  const auto awaits_acks = [&](std::uint32_t slot) {
    const ProducerBook& p = *producers_[slot];
    // When stopping, a producer that is gone is not waited for: its results are dropped.
    return !p.unacked.empty() && (!stopping_ || p.connected());
  };
  if (run_.ready_to_drain(stopping_, awaits_acks)) declare_drained(now);
}

// §2.2: drained. Consumers get their pill, producers still connected the run's summary.
void Core::declare_drained(TimePoint now) {
  run_.declare_drained();
  const wire::Summary summary = run_summary(now);
  log_->info("drained: {} tasks ({} ok, {} failed, {} dead, {} redelivered) in {:.3f} s",
             summary.tasks(), summary.ok(), summary.failed(), summary.dead(), summary.redelivered(),
             summary.seconds());
  drop_undeliverable_results();
  if (consumers_released()) {
    pill_consumers();
  } else {
    log_->info("--service: {} consumers stay for the next run", consumers_.size());
  }
  for (auto& p : producers_) {
    if (!p->connected()) continue;
    wire::Envelope envelope;
    *envelope.mutable_drained()->mutable_summary() = summary;
    envelope.mutable_drained()->set_broker_stopping(stopping_);
    send(*p, std::move(envelope));
  }
  if (config_.exit_when_drained || stopping_) finished_ = true;
}

void Core::drop_undeliverable_results() {
  for (auto& p : producers_) {
    if (!p->unacked.empty() && (run_.vanished(p->slot) || stopping_)) {
      log_->warn("producer {} is gone: {} of its results are dropped undelivered", p->id,
                 p->unacked.size());
      p->unacked.clear();
    }
  }
}

bool Core::consumers_released() const {
  return finished_ || run_.consumers_released(stopping_);
}

void Core::pill_consumers() {
  std::size_t pilled = 0;
  for (auto& [serial, consumer] : consumers_) {
    if (consumer->pilled) continue;  // its stage ended earlier (§7.4)
    consumer->pilled = true;
    wire::Envelope pill;
    pill.mutable_pill();
    send(*consumer, std::move(pill));
    ++pilled;
  }
  if (pilled > 0) log_->info("sending a pill to each of {} consumers", pilled);
}

void Core::check_liveness(TimePoint now) {
  const Duration window = config_.liveness_window();
  std::vector<std::uint64_t> dead;
  for (const auto& [serial, consumer] : consumers_) {
    if (now - consumer->last_heard > window) dead.push_back(serial);
  }
  for (const std::uint64_t serial : dead) {
    const ConsumerSession& consumer = *consumers_.at(serial);
    log_->warn("consumer {} at {} sent nothing for {} ms: declared dead", consumer.id,
               consumer.address, to_ms(now - consumer.last_heard));
    end_consumer(serial, "was declared dead");
  }
  for (auto& p : producers_) {
    if (p->connected() && now - p->last_heard > window) {
      log_->warn("producer {} at {} sent nothing for {} ms: declared gone; its results wait", p->id,
                 p->address, to_ms(now - p->last_heard));
      detach_producer(*p, now);
    }
    check_producer_timeout(*p, now);
  }
}

// §2.2: a producer gone past --producer-timeout counts as pilled. A pilled producer can vanish
// too while results wait for its acknowledgement: the drain waits for those, and a producer that
// died after its pill would hold the run open forever.
void Core::check_producer_timeout(ProducerBook& p, TimePoint now) {
  if (!config_.producer_timeout || p.connected() || !run_.joined(p.slot) || run_.vanished(p.slot))
    return;
  const bool awaited = !run_.pilled(p.slot) || !p.unacked.empty();
  if (!awaited || now - p.detached_at <= *config_.producer_timeout) return;
  run_.on_vanished(p.slot);
  log_->warn(
      "producer {} has been gone for {} ms (--producer-timeout): counted as pilled, its "
      "unacknowledged results are not waited for",
      p.id, to_ms(now - p.detached_at));
}

void Core::send_heartbeats(TimePoint now) {
  for (auto& [serial, consumer] : consumers_) {
    if (now - consumer->last_sent < config_.heartbeat) continue;
    wire::Envelope beat;
    beat.mutable_heartbeat();
    send(*consumer, std::move(beat));
  }
  for (auto& p : producers_) {
    if (!p->connected() || now - p->last_sent < config_.heartbeat) continue;
    wire::Envelope beat;
    beat.mutable_heartbeat();
    send(*p, std::move(beat));
  }
}

wire::Summary Core::run_summary(TimePoint now) const {
  wire::Summary summary;
  summary.set_tasks(stats_.tasks_received - run_start_stats_.tasks_received);
  summary.set_ok(stats_.ok - run_start_stats_.ok);
  summary.set_failed(stats_.failed - run_start_stats_.failed);
  summary.set_dead(stats_.dead - run_start_stats_.dead);
  summary.set_redelivered(stats_.redelivered - run_start_stats_.redelivered);
  summary.set_retried(stats_.retried - run_start_stats_.retried);
  summary.set_seconds(seconds_between(run_started_, now));
  return summary;
}

}  // namespace conveyor::broker
