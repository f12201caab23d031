#include "producer/session.hpp"

#include <algorithm>

#include "common/codec.hpp"
#include "common/logging.hpp"
#include "common/task.hpp"

namespace conveyor::producer {
namespace {

constexpr std::size_t kMaxBatchTasks = 10000;
constexpr std::size_t kBatchTargetBytes = 1u << 20;

const char* kAgent = "conveyor-producer/0.1";

}  // namespace

Session::Session(SessionConfig config, TimePoint now)
    : config_(std::move(config)), log_(logger("producer")), now_(now), started_(now) {}

void Session::on_connect(TimePoint now) {
  now_ = now;
  wants_new_connection_ = false;
  welcomed_ = false;
  credit_ = 0;
  pill_sent_ = false;
  hello_sent_ = now;
  hello_retry_at_ = now + hello_backoff_.next();
  last_heard_ = now;
  wire::Envelope hello;
  auto* h = hello.mutable_hello();
  h->set_role(wire::PRODUCER);
  h->set_id(config_.id);
  h->set_session(random_nonce());
  h->set_agent(kAgent);
  h->set_resuming(ever_welcomed_);
  emit(std::move(hello));
}

void Session::on_envelope(wire::Envelope& envelope, TimePoint now) {
  now_ = now;
  last_heard_ = now;
  switch (envelope.body_case()) {
    case wire::Envelope::kWelcome:
      return on_welcome(envelope.welcome(), now);
    case wire::Envelope::kCredit:
      if (welcomed_) credit_ += envelope.credit().grant();
      return;
    case wire::Envelope::kResults:
      return on_results(*envelope.mutable_results());
    case wire::Envelope::kError:
      return on_error(envelope.error(), now);
    case wire::Envelope::kDrained:
      return on_drained(envelope.drained());
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
  max_payload_bytes_ = welcome.max_payload_bytes();
  max_message_bytes_ = welcome.max_message_bytes();
  if (phase_ == Phase::connecting) phase_ = Phase::running;
  // Everything not final goes again: the broker drops what it already holds.
  std::vector<std::uint64_t> seqs;
  seqs.reserve(unfinished_.size());
  for (const auto& [seq, pending] : unfinished_)
    seqs.push_back(seq);
  std::sort(seqs.begin(), seqs.end());
  unsent_.assign(seqs.begin(), seqs.end());
  if (ever_welcomed_) {
    log_->info("reconnected to the broker after {} ms; sending {} unfinished tasks again",
               to_ms(now - lost_since_), seqs.size());
  } else {
    log_->info("connected to the broker at {} as {}", config_.broker, config_.id);
  }
  ever_welcomed_ = true;
}

void Session::on_results(wire::ResultBatch& batch) {
  for (auto& result : *batch.mutable_results()) {
    acks_.push_back(result.seq());
    if (unfinished_.erase(result.seq()) == 0) {
      ++counts_.duplicates;  // a redelivered task's second result, or one sent again
      continue;
    }
    switch (result.status()) {
      case wire::OK:
        ++counts_.ok;
        break;
      case wire::DEAD:
        ++counts_.dead;
        break;
      default:
        ++counts_.failed;
    }
    finished_.push_back(std::move(result));
  }
}

void Session::on_error(const wire::Error& error, TimePoint now) {
  if (error.fatal()) {
    return fail("the broker refused this producer: " + error.text());
  }
  if (error.code() == wire::SHUTTING_DOWN) credit_ = 0;  // the broker took its grants back
  if (!error.rejected_seqs().empty()) {
    // Refused tasks are still ours: they go first when credit returns.
    std::vector<std::uint64_t> back(error.rejected_seqs().begin(), error.rejected_seqs().end());
    std::sort(back.begin(), back.end());
    unsent_.insert(unsent_.begin(), back.begin(), back.end());
    log_->debug("broker refused {} tasks: {}", back.size(), error.text());
  } else {
    log_->warn("broker: {}", error.text());
  }
  if (error.code() == wire::NOT_WELCOMED) {
    lose_connection(now, "the broker does not know this session (did it restart?)");
  }
}

void Session::on_drained(const wire::Drained& drained) {
  const auto& s = drained.summary();
  log_->info("broker drained: {} tasks ({} ok, {} failed, {} dead) in {:.2f} s", s.tasks(), s.ok(),
             s.failed(), s.dead(), s.seconds());
  if (drained.broker_stopping() && !unfinished_.empty()) {
    log_->warn("the broker is stopping with {} of our tasks unfinished; waiting for it to return",
               unfinished_.size());
  }
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
                  " ms (--connect-timeout): is it running, and is this its frontend port?");
    }
    if (ever_welcomed_ && now - lost_since_ > config_.reconnect_timeout) {
      return fail("lost the broker at " + config_.broker + " for " +
                  std::to_string(to_ms(now - lost_since_)) + " ms (--reconnect-timeout) with " +
                  std::to_string(unfinished_.size()) + " tasks unfinished");
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
    log_->warn("{}: reconnecting ({} tasks unfinished are kept)", why, unfinished_.size());
    lost_since_ = now;
  }
  welcomed_ = false;
  credit_ = 0;
  wants_new_connection_ = true;
}

std::size_t Session::source_room() const {
  if (source_ended_ || phase_ == Phase::failed) return 0;
  return config_.window > unfinished_.size() ? config_.window - unfinished_.size() : 0;
}

void Session::add_task(std::string payload) {
  const std::uint64_t seq = next_seq_++;
  ++counts_.produced;
  if (payload.size() > max_payload_bytes_) {
    // The broker would refuse it: report it failed here and spare the network.
    wire::Result result;
    result.set_seq(seq);
    result.set_status(wire::FAILED);
    result.set_error("payload of " + std::to_string(payload.size()) +
                     " bytes is over the broker's limit of " + std::to_string(max_payload_bytes_));
    ++counts_.failed;
    finished_.push_back(std::move(result));
    return;
  }
  unfinished_.emplace(seq, Pending{std::move(payload)});
  unsent_.push_back(seq);
}

void Session::end_of_source() {
  source_ended_ = true;
}

void Session::flush(TimePoint now) {
  now_ = now;
  if (phase_ == Phase::done || phase_ == Phase::failed || !welcomed_) return;
  send_tasks();
  if (!acks_.empty()) {
    wire::Envelope ack;
    ack.mutable_ack()->mutable_seqs()->Add(acks_.begin(), acks_.end());
    acks_.clear();
    emit(std::move(ack));
  }
  if (source_ended_ && all_sent() && !pill_sent_) {
    wire::Envelope pill;
    pill.mutable_pill()->set_tasks(next_seq_);
    emit(std::move(pill));
    pill_sent_ = true;
    log_->info("source exhausted after {} tasks: pill sent", next_seq_);
  }
  if (source_ended_ && pill_sent_ && unfinished_.empty()) {
    wire::Envelope goodbye;
    goodbye.mutable_goodbye()->set_reason("every task has its result");
    emit(std::move(goodbye));
    phase_ = Phase::done;
  }
}

bool Session::all_sent() {
  // A task queued to go again can turn final first (the broker held it and its result came back
  // after the reconnect): it is nothing to send, and without credit it would hold back the pill.
  while (!unsent_.empty() && !unfinished_.contains(unsent_.front()))
    unsent_.pop_front();
  return unsent_.empty();
}

void Session::send_tasks() {
  const std::size_t target = std::min<std::uint64_t>(kBatchTargetBytes, max_message_bytes_ / 4);
  while (credit_ > 0 && !unsent_.empty()) {
    wire::Envelope envelope;
    auto* batch = envelope.mutable_tasks();
    std::size_t bytes = 0;
    while (credit_ > 0 && !unsent_.empty() &&
           static_cast<std::size_t>(batch->tasks_size()) < kMaxBatchTasks && bytes < target) {
      const std::uint64_t seq = unsent_.front();
      unsent_.pop_front();
      auto it = unfinished_.find(seq);
      if (it == unfinished_.end()) continue;  // final already (its result came meanwhile)
      wire::Task* task = batch->add_tasks();
      task->set_seq(seq);
      task->set_payload(it->second.payload);
      bytes += it->second.payload.size() + 12;
      --credit_;
    }
    if (batch->tasks_size() == 0) break;
    emit(std::move(envelope));
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

}  // namespace conveyor::producer
