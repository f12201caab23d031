#include "consumer/session.hpp"

#include <algorithm>

#include "common/codec.hpp"
#include "common/logging.hpp"
#include "common/task.hpp"

namespace conveyor::consumer {
namespace {

const char* kAgent = "conveyor-consumer/0.1";

wire::TaskRef ref_of(const wire::Task& task) {
  wire::TaskRef ref;
  ref.set_producer(task.producer());
  ref.set_seq(task.seq());
  return ref;
}

}  // namespace

Session::Session(SessionConfig config, TimePoint now)
    : config_(std::move(config)), log_(logger("consumer")), now_(now), started_(now) {}

void Session::on_connect(TimePoint now) {
  now_ = now;
  wants_new_connection_ = false;
  welcomed_ = false;
  hello_sent_ = now;
  hello_retry_at_ = now + hello_backoff_.next();
  last_heard_ = now;
  wire::Envelope hello;
  auto* h = hello.mutable_hello();
  h->set_role(wire::CONSUMER);
  h->set_id(config_.id);
  h->set_session(random_nonce());
  h->set_capacity(config_.capacity);
  h->set_agent(kAgent);
  emit(std::move(hello));
}

void Session::on_envelope(wire::Envelope& envelope, TimePoint now) {
  now_ = now;
  last_heard_ = now;
  switch (envelope.body_case()) {
    case wire::Envelope::kWelcome:
      return on_welcome(envelope.welcome(), now);
    case wire::Envelope::kTasks:
      return on_tasks(*envelope.mutable_tasks());
    case wire::Envelope::kPill:
      if (!pilled_) log_->info("pill received: finishing {} running tasks", running_tasks_);
      pilled_ = true;
      if (phase_ == Phase::running || phase_ == Phase::connecting) phase_ = Phase::finishing;
      return;
    case wire::Envelope::kError:
      return on_error(envelope.error(), now);
    case wire::Envelope::kHeartbeat:
      return;
    default:
      log_->warn("the broker sent an unexpected {} message; ignored", body_name(envelope));
  }
}

void Session::on_welcome(const wire::Welcome& welcome, TimePoint now) {
  hello_backoff_.reset();
  welcomed_ = true;
  heartbeat_ = milliseconds(std::max<std::uint32_t>(welcome.heartbeat_ms(), 10));
  liveness_ = std::max<std::uint32_t>(welcome.liveness(), 1);
  max_message_bytes_ = welcome.max_message_bytes();
  if (phase_ == Phase::connecting) phase_ = Phase::running;
  if (ever_welcomed_) {
    log_->info("reconnected to the broker after {} ms", to_ms(now - lost_since_));
  } else {
    log_->info("connected to the broker at {} as {} with capacity {}", config_.broker, config_.id,
               config_.capacity);
  }
  ever_welcomed_ = true;
  if (stopping_) hand_back_pending();  // tell the new session we take nothing
}

void Session::on_tasks(wire::TaskBatch& batch) {
  counts_.received += static_cast<std::uint64_t>(batch.tasks_size());
  for (auto& task : *batch.mutable_tasks()) {
    log_->debug("task {} attempt {} received", task_id(task.producer(), task.seq()),
                task.attempt());
    pending_.push_back(std::move(task));
  }
  if (stopping_) hand_back_pending();  // sent before the broker saw our capacity drop to 0
}

void Session::on_error(const wire::Error& error, TimePoint now) {
  if (error.fatal()) return fail("the broker refused this consumer: " + error.text());
  log_->warn("broker: {}", error.text());
  if (error.code() == wire::NOT_WELCOMED) {
    lose_connection(now, "the broker does not know this session (did it restart?)");
  }
}

Work Session::take_work(std::size_t max) {
  Work work;
  if (max == 0 || pending_.empty()) return work;
  work.id = next_work_id_++;
  auto& refs = running_[work.id];
  while (!pending_.empty() && work.tasks.size() < max) {
    refs.push_back(ref_of(pending_.front()));
    work.tasks.push_back(std::move(pending_.front()));
    pending_.pop_front();
  }
  running_tasks_ += work.tasks.size();
  return work;
}

void Session::on_done(std::uint64_t id, std::vector<wire::Result>& results) {
  auto it = running_.find(id);
  if (it == running_.end()) return;
  running_tasks_ -= it->second.size();
  running_.erase(it);
  for (auto& result : results) {
    if (result.status() == wire::OK) {
      ++counts_.ok;
    } else {
      ++counts_.failed;
      log_->debug("task {} failed: {}", task_id(result.producer(), result.seq()), result.error());
    }
    results_.push_back(std::move(result));
  }
}

void Session::stop(TimePoint now) {
  now_ = now;
  if (stopping_) return;
  stopping_ = true;
  if (phase_ == Phase::running || phase_ == Phase::connecting) phase_ = Phase::finishing;
  log_->info("stopping: {} unstarted tasks go back to the broker, {} running ones finish first",
             pending_.size(), running_tasks_);
  if (welcomed_) hand_back_pending();
}

void Session::set_capacity(std::uint32_t capacity) {
  if (capacity == config_.capacity || capacity == 0) return;
  log_->debug("capacity {} -> {}", config_.capacity, capacity);
  config_.capacity = capacity;  // also what the next hello announces
  if (!welcomed_ || stopping_ || pilled_) return;
  wire::Envelope envelope;
  envelope.mutable_credit()->set_capacity(capacity);
  emit(std::move(envelope));
}

void Session::hand_back_pending() {
  wire::Envelope envelope;
  auto* credit = envelope.mutable_credit();
  credit->set_capacity(0);
  for (const auto& task : pending_)
    *credit->add_released() = ref_of(task);
  counts_.handed_back += pending_.size();
  pending_.clear();
  emit(std::move(envelope));
}

void Session::abort(TimePoint now) {
  now_ = now;
  wire::Envelope envelope;
  auto* goodbye = envelope.mutable_goodbye();
  goodbye->set_reason("stopped at once by a second signal");
  for (const auto& task : pending_)
    *goodbye->add_released() = ref_of(task);
  for (const auto& [id, refs] : running_) {
    for (const auto& ref : refs)
      *goodbye->add_abandoned() = ref;
  }
  pending_.clear();
  if (welcomed_) emit(std::move(envelope));
  phase_ = Phase::done;
}

void Session::on_tick(TimePoint now) {
  now_ = now;
  if (phase_ == Phase::done || phase_ == Phase::failed) return;
  const Duration silence_limit = heartbeat_ * liveness_;
  if (!welcomed_) {
    if (!ever_welcomed_ && now - started_ > config_.connect_timeout &&
        !handshake_failure_.empty()) {
      return fail(handshake_failure_ + "; no welcome from the broker at " + config_.broker +
                  " within " + std::to_string(to_ms(config_.connect_timeout)) +
                  " ms (--connect-timeout)");
    }
    if (!ever_welcomed_ && now - started_ > config_.connect_timeout) {
      return fail("no answer from the broker at " + config_.broker + " within " +
                  std::to_string(to_ms(config_.connect_timeout)) +
                  " ms (--connect-timeout): is it running, and is this its backend port?");
    }
    if (ever_welcomed_ && now - lost_since_ > config_.reconnect_timeout) {
      return fail("lost the broker at " + config_.broker + " for " +
                  std::to_string(to_ms(now - lost_since_)) + " ms (--reconnect-timeout)");
    }
    // A hello can be lost with a dying connection: try a fresh socket, less and less often.
    if (now >= hello_retry_at_) {
      log_->info(
          "no welcome from the broker at {} {} ms after hello; trying a fresh connection "
          "(attempt {})",
          config_.broker, to_ms(now - hello_sent_), hello_backoff_.attempts() + 1);
      wants_new_connection_ = true;
    }
    return;
  }
  if (now - last_heard_ > silence_limit) {
    return lose_connection(
        now, "the broker sent nothing for " + std::to_string(to_ms(now - last_heard_)) + " ms");
  }
  if (now - last_sent_ >= heartbeat_) {
    wire::Envelope beat;
    beat.mutable_heartbeat();
    emit(std::move(beat));
  }
}

void Session::lose_connection(TimePoint now, const std::string& why) {
  if (welcomed_) {
    // The broker requeues what this session held; unstarted tasks are no longer ours.
    log_->warn("{}: reconnecting; {} unstarted tasks dropped (the broker requeues them)", why,
               pending_.size());
    lost_since_ = now;
  }
  pending_.clear();
  welcomed_ = false;
  wants_new_connection_ = true;
}

void Session::flush(TimePoint now) {
  now_ = now;
  if (phase_ == Phase::done || phase_ == Phase::failed) return;
  if (welcomed_ && !results_.empty()) {
    const std::size_t target = std::min<std::uint64_t>(1u << 20, max_message_bytes_ / 4);
    wire::Envelope envelope;
    std::size_t bytes = 0;
    for (auto& result : results_) {
      bytes += result.output().size() + result.error().size() + result.producer().size() + 16;
      *envelope.mutable_results()->add_results() = std::move(result);
      if (bytes >= target) {
        emit(std::move(envelope));
        envelope = wire::Envelope();
        bytes = 0;
      }
    }
    if (envelope.has_results()) emit(std::move(envelope));
    results_.clear();
  }
  const bool finished = pending_.empty() && running_tasks_ == 0 && results_.empty();
  if ((pilled_ || stopping_) && finished) {
    wire::Envelope goodbye;
    goodbye.mutable_goodbye()->set_reason(pilled_ ? "pill" : "stopped by signal");
    if (welcomed_) emit(std::move(goodbye));
    phase_ = Phase::done;
  }
}

void Session::fail(std::string why) {
  phase_ = Phase::failed;
  failure_ = std::move(why);
}

void Session::emit(wire::Envelope envelope) {
  last_sent_ = now_;
  outbox_.push_back(std::move(envelope));
}

}  // namespace conveyor::consumer
