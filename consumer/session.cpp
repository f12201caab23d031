#include "conveyor/consumer/session.hpp"

#include <algorithm>

#include "conveyor/common/codec.hpp"
#include "conveyor/common/logging.hpp"
#include "conveyor/common/signal_policy.hpp"
#include "conveyor/common/task.hpp"

namespace conveyor::consumer {
namespace {

wire::TaskRef ref_of(const Delivery& task) {
  wire::TaskRef ref;
  ref.set_producer(std::string(task.producer()));
  ref.set_seq(task.seq());
  return ref;
}

}  // namespace

Session::Session(SessionConfig config, TimePoint now)
    : ClientSession(config, wire::CONSUMER, logger("consumer"), now),
      config_(std::move(config)),
      log_(logger("consumer")) {
  if (config_.auto_prefetch) auto_prefetch_.emplace(config_.workers);
}

void Session::on_connect(TimePoint now) {
  on_lost();  // whatever the old connection delivered is the broker's again, results included
  counts_.stale += results_.size();
  results_.clear();
  ++connection_;
  wire::Hello& hello = link_.on_connect(now);
  hello.set_capacity(config_.capacity);
  hello.set_emit_to(config_.emit_to);
}

void Session::on_envelope(wire::Envelope& envelope, TimePoint now) {
  const LinkEvent event = link_.on_envelope(envelope, now);
  if (event == LinkEvent::lost) on_lost();
  switch (envelope.body_case()) {
    case wire::Envelope::kWelcome:
      if (event == LinkEvent::welcomed) {
        log_->info("holding up to {} tasks ({} workers)", config_.capacity, config_.workers);
      }
      if (stopping_) hand_back_pending();  // tell the new session we take nothing
      return;
    case wire::Envelope::kTasks: {
      // A batch BatchReader refused (headers, emitted tasks' ids, text that is not ASCII): its
      // tasks point into the parsed batch, moved out of the decoder, which reuses its objects.
      auto batch = std::make_shared<wire::TaskBatch>(std::move(*envelope.mutable_tasks()));
      return on_tasks(reader_.view(*batch), batch);
    }
    case wire::Envelope::kPill:
      return on_pill();
    case wire::Envelope::kError:
      if (!envelope.error().fatal()) log_->warn("broker: {}", envelope.error().text());
      return;
    case wire::Envelope::kHeartbeat:
      return;
    default:
      log_->warn("the broker sent an unexpected {} message; ignored", body_name(envelope));
  }
}

bool Session::on_frame(std::string_view frame, const std::shared_ptr<const void>& owner,
                       TimePoint now) {
  if (!read_in_place(frame, BatchReader::Kind::tasks, now)) return false;
  on_tasks(reader_.tasks(), owner);
  return true;
}

void Session::on_tasks(std::span<const TaskView> tasks, const std::shared_ptr<const void>& owner) {
  counts_.received += tasks.size();
  // The id is only built when the line is written: it costs an allocation per task.
  const bool logged = log_->should_log(spdlog::level::debug);
  for (const TaskView& task : tasks) {
    if (logged) {
      log_->debug("task {} attempt {} received", task_id(task.producer, task.seq), task.attempt);
    }
    TaskView held = task;
    held.producer = producer_ids_.intern(task.producer);  // the frame's copy is one per task
    pending_.emplace_back(held, owner);
  }
  if (stopping_) hand_back_pending();  // sent before the broker saw our capacity drop to 0
}

void Session::on_pill() {
  if (!pilled_) log_->info("pill received: finishing {} running tasks", running_tasks_);
  pilled_ = true;
}

void Session::on_lost() {
  // The broker requeues what the lost session held: unstarted tasks are no longer ours.
  if (!pending_.empty()) {
    log_->warn("{} unstarted tasks dropped (the broker requeues them)", pending_.size());
  }
  pending_.clear();
}

void Session::on_tick(TimePoint now) {
  if (finished()) return;
  if (link_.on_tick(now, running_tasks_) == LinkEvent::lost) on_lost();
  check_timeouts(now);
}

// §7.2: a task still running kStuckGrace past --task-timeout is given up: its delivery is reported
// timed out (the broker gives it out again at once, counting the attempt), and since a thread
// cannot be killed, the consumer stops taking work and exits 1 for its supervisor to restart it.
void Session::check_timeouts(TimePoint now) {
  if (!config_.task_timeout) return;
  for (auto& [id, running] : running_) {
    if (!running.given_up && now - running.started > *config_.task_timeout + kStuckGrace) {
      give_up(running, now);
    }
  }
}

void Session::give_up(Running& running, TimePoint now) {
  running.given_up = true;
  running_tasks_ -= running.refs.size();
  const std::string why = "timed out after " + std::to_string(to_ms(*config_.task_timeout)) +
                          " ms (--task-timeout) in a handler that did not stop";
  for (std::size_t i = 0; i < running.refs.size(); ++i) {
    Report result;
    result.producer = running.refs[i].producer;
    result.seq = running.refs[i].seq;
    result.attempts = running.refs[i].attempt;
    result.status = wire::FAILED;
    result.timed_out = true;
    result.error = why;
    if (running.connection == connection_) keep_result(result);
  }
  if (stuck_.empty()) {
    stuck_ = "task " + task_id(running.refs[0].producer, running.refs[0].seq) + " " + why +
             " (a C++ handler must watch task.deadline()); exiting so that it can be restarted";
    log_->error("{}", stuck_);
    stop(now);
  }
}

SignalAction Session::on_signal(int signo, TimePoint now) {
  const SignalAction action = signals_.on_signal();
  if (action == SignalAction::drain) {
    log_->info("{}: finishing running tasks, then exiting", signal_name(signo));
    stop(now);
  } else {
    log_->warn("{} again: stopping now; the broker requeues what we held", signal_name(signo));
    abort(now);
  }
  return action;
}

std::optional<Work> Session::next_work(std::size_t idle_workers, TimePoint now,
                                       std::size_t max_tasks, std::vector<Delivery>* room) {
  link_.advance(now);  // the time a task starts, for --task-timeout
  if (idle_workers == 0 || pending_.empty() || stuck()) return std::nullopt;
  // With --task-timeout a task goes alone: a stuck one must not hold a batch-mate hostage.
  const bool fast =
      times_.measured() && times_.seconds_per_task() < kBatchBelowSeconds && !config_.task_timeout;
  const std::size_t share = (pending_.size() + idle_workers - 1) / idle_workers;
  return take_work(std::min(max_tasks, fast ? std::min(share, kMaxWorkBatch) : 1), room);
}

Work Session::take_work(std::size_t max, std::vector<Delivery>* room) {
  Work work;
  if (max == 0 || pending_.empty()) return work;
  work.id = next_work_id_++;
  Running& running = running_[work.id];
  // Sized once: grown one by one, the two vectors took about ten allocations per batch.
  const std::size_t taken = std::min(max, pending_.size());
  if (room != nullptr) {
    room->clear();
    work.tasks.swap(*room);
  }
  work.tasks.reserve(taken);
  running.refs.reserve(taken);
  while (!pending_.empty() && work.tasks.size() < max) {
    const Delivery& task = pending_.front();
    running.refs.push_back({task.producer(), task.seq(), task.attempt()});
    running.payload_bytes += task.payload().size();
    work.tasks.push_back(std::move(pending_.front()));
    pending_.pop_front();
  }
  running.connection = connection_;
  running.started = link_.now();
  running_tasks_ += work.tasks.size();
  return work;
}

void Session::on_done(std::uint64_t id, std::vector<Report>& results, Duration elapsed) {
  auto it = running_.find(id);
  if (it == running_.end()) return;
  if (it->second.given_up) {  // reported timed out already: what it says now is too late
    running_.erase(it);
    return;
  }
  const bool stale = it->second.connection != connection_;
  running_tasks_ -= it->second.refs.size();
  times_.on_batch(it->second.refs.size(), it->second.payload_bytes, elapsed);
  running_.erase(it);
  if (stale) {
    // The broker ended that delivery with the old connection and gave the task out again: a
    // result for it now would be refused as one for a delivery this session does not hold.
    counts_.stale += results.size();
    log_->debug("{} results of work from an earlier connection dropped", results.size());
  } else {
    for (auto& result : results)
      keep_result(result);
  }
  adapt_capacity();
}

void Session::keep_result(Report& result) {
  // §7.1: a result over the broker's message limit would be refused unread and hold its task in
  // flight: it goes as a failure with the reason instead (the broker may retry it).
  constexpr std::size_t kEnvelopeOverhead = 1024;  // ids, numbers, field tags
  const std::uint64_t limit = link_.limits().max_message_bytes;
  std::size_t size = result.output.size() + result.error.size();
  for (const auto& emitted : result.emit)
    size += emitted.size() + 8;
  if (size + kEnvelopeOverhead > limit) {
    ++counts_.too_large;
    result.status = wire::FAILED;
    result.error = "output of " + std::to_string(size) +
                   " bytes is over the broker's --max-message-bytes " + std::to_string(limit);
    result.output.clear();
    result.emit.clear();
  }
  if (result.ok()) {
    ++counts_.ok;
  } else {
    ++counts_.failed;
    counts_.timed_out += result.timed_out ? 1 : 0;
    if (log_->should_log(spdlog::level::debug)) {
      log_->debug("task {} failed: {}", task_id(result.producer, result.seq), result.error);
    }
  }
  if (auto warning = failures_.on_result(result.ok(), result.error, link_.now()))
    log_->warn("{}", *warning);
  results_.push_back(std::move(result));
}

void Session::adapt_capacity() {
  if (!auto_prefetch_) return;
  if (auto capacity = auto_prefetch_->capacity_change(times_)) {
    log_->info("--prefetch auto: holding up to {} tasks ({} workers, {:.1f} us/task)", *capacity,
               config_.workers, times_.seconds_per_task() * 1e6);
    set_capacity(*capacity);
  }
}

void Session::stop(TimePoint now) {
  link_.advance(now);
  if (stopping_) return;
  stopping_ = true;
  log_->info("stopping: {} unstarted tasks go back to the broker, {} running ones finish first",
             pending_.size(), running_tasks_);
  if (link_.welcomed()) hand_back_pending();
}

void Session::set_capacity(std::uint32_t capacity) {
  if (capacity == config_.capacity || capacity == 0) return;
  log_->debug("capacity {} -> {}", config_.capacity, capacity);
  config_.capacity = capacity;  // also what the next hello announces
  if (!link_.welcomed() || stopping_ || pilled_) return;
  wire::Envelope envelope;
  envelope.mutable_credit()->set_capacity(capacity);
  link_.send(std::move(envelope));
}

void Session::hand_back_pending() {
  wire::Envelope envelope;
  auto* credit = envelope.mutable_credit();
  credit->set_capacity(0);
  for (const auto& task : pending_)
    *credit->add_released() = ref_of(task);
  counts_.handed_back += pending_.size();
  pending_.clear();
  link_.send(std::move(envelope));
}

void Session::abort(TimePoint now) {
  link_.advance(now);
  wire::Envelope envelope;
  auto* goodbye = envelope.mutable_goodbye();
  goodbye->set_reason("stopped at once by a second signal");
  for (const auto& task : pending_)
    *goodbye->add_released() = ref_of(task);
  for (const auto& [id, running] : running_) {
    // The broker has those back already: from the old connection, or reported timed out.
    if (running.connection != connection_ || running.given_up) continue;
    for (const auto& held : running.refs) {
      auto* ref = goodbye->add_abandoned();
      ref->set_producer(std::string(held.producer));
      ref->set_seq(held.seq);
    }
  }
  pending_.clear();
  if (link_.welcomed()) link_.send(std::move(envelope));
  done_ = true;
}

void Session::flush(TimePoint now) {
  link_.advance(now);
  if (finished()) return;
  if (link_.welcomed()) send_results();
  forget_producer_ids();
  const bool idle = pending_.empty() && running_tasks_ == 0 && results_.empty();
  if ((pilled_ || stopping_) && idle) {
    wire::Envelope goodbye;
    goodbye.mutable_goodbye()->set_reason(pilled_ ? "pill" : "stopped by signal");
    if (link_.welcomed()) link_.send(std::move(goodbye));
    done_ = true;
  }
}

void Session::send_results() {
  if (results_.empty()) return;
  const std::uint64_t limit = link_.limits().max_message_bytes;
  const std::size_t target = std::min<std::uint64_t>(1u << 20, limit / 4);
  // Written field by field from results_: moving each into an Envelope to serialize it cost a
  // protobuf message per result (BENCHMARKS.md, "CPU per task").
  writer_.start(BatchWriter::Kind::results);
  for (const auto& result : results_) {
    const auto fields = [&](auto& out) { write_report(out, result); };
    // A batch is cut past its target, yet one result may be nearly the whole limit
    // (keep_result): a batch it would take over the limit goes first, without it.
    if (!writer_.add(fields, limit)) {
      link_.send_batch(writer_);
      writer_.start(BatchWriter::Kind::results);
      writer_.add(fields, limit);
    }
    if (writer_.bytes() >= target) {
      link_.send_batch(writer_);
      writer_.start(BatchWriter::Kind::results);
    }
  }
  if (writer_.count() > 0) link_.send_batch(writer_);
  results_.clear();
}

// ProducerIds: nothing views an id any more, the table starts over; or it has grown large (never
// idle, producers coming and going), and only the ids still viewed stay.
void Session::forget_producer_ids() {
  if (producer_ids_.size() == 0) return;
  if (pending_.empty() && running_.empty() && results_.empty()) return producer_ids_.clear();
  if (!producer_ids_.wants_pruning()) return;
  producer_ids_.prune([&](auto&& keep) {
    for (const Delivery& task : pending_)
      keep(task.producer());
    for (const auto& [id, running] : running_) {
      for (const auto& held : running.refs)
        keep(held.producer);
    }
    for (const Report& result : results_)
      keep(result.producer);
  });
}

bool Session::idle() const {
  return link_.welcomed() && pending_.empty() && running_.empty() && results_.empty() &&
         !stopping_ && !pilled_ && !done_;
}

Session::Phase Session::phase() const {
  if (link_.failed()) return Phase::failed;
  if (done_) return Phase::done;
  if (pilled_ || stopping_) return Phase::finishing;
  return link_.ever_welcomed() ? Phase::running : Phase::connecting;
}

}  // namespace conveyor::consumer
