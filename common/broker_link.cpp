#include "conveyor/common/broker_link.hpp"

#include "conveyor/common/task.hpp"

namespace conveyor {
namespace {

const char* role_name(wire::Role role) {
  return role == wire::PRODUCER ? "producer" : "consumer";
}

const char* port_name(wire::Role role) {
  return role == wire::PRODUCER ? "frontend" : "backend";
}

BrokerLimits limits_of(const wire::Welcome& welcome) {
  BrokerLimits limits;
  // A broker that sent nonsense still gets sane timers: heartbeats at least 10 ms apart.
  limits.heartbeat = milliseconds(std::max<std::uint32_t>(welcome.heartbeat_ms(), 10));
  limits.liveness = std::max<std::uint32_t>(welcome.liveness(), 1);
  limits.max_payload_bytes = welcome.max_payload_bytes();
  limits.max_message_bytes = welcome.max_message_bytes();
  return limits;
}

}  // namespace

BrokerLink::BrokerLink(const LinkConfig& config, wire::Role role,
                       std::shared_ptr<spdlog::logger> log, TimePoint now)
    : config_(config),
      role_(role),
      log_(std::move(log)),
      process_(random_nonce()),
      now_(now),
      started_(now) {}

wire::Hello& BrokerLink::on_connect(TimePoint now) {
  now_ = now;
  wants_new_connection_ = false;
  welcomed_ = false;
  hello_sent_ = now;
  hello_retry_at_ = now + (duplicate_refusal_.empty() ? hello_backoff_.next() : kDuplicateRetry);
  last_heard_ = now;
  wire::Envelope envelope;
  auto* hello = envelope.mutable_hello();
  hello->set_role(role_);
  hello->set_id(config_.id);
  hello->set_session(random_nonce());
  hello->set_process(process_);
  hello->set_queue(config_.queue);
  hello->set_agent(role_ == wire::PRODUCER ? "conveyor-producer/0.1" : "conveyor-consumer/0.1");
  send(std::move(envelope));
  return *outbox_.back().envelope.mutable_hello();
}

LinkEvent BrokerLink::on_envelope(const wire::Envelope& envelope, TimePoint now) {
  now_ = now;
  last_heard_ = now;
  if (envelope.has_welcome()) return on_welcome(envelope.welcome(), now);
  if (envelope.has_error()) return on_error(envelope.error(), now);
  // The broker's heartbeat is answered once ours is half due: an idle client, woken by it anyway,
  // sends its own in the same wake-up, and next_deadline() puts ours past the broker's next one.
  if (envelope.has_heartbeat() && welcomed_ && now - last_sent_ >= limits_.heartbeat / 2) {
    send_heartbeat();
  }
  return LinkEvent::none;
}

LinkEvent BrokerLink::on_welcome(const wire::Welcome& welcome, TimePoint now) {
  hello_backoff_.reset();
  welcomed_ = true;
  duplicate_refusal_.clear();
  limits_ = limits_of(welcome);
  const bool again = ever_welcomed_;
  ever_welcomed_ = true;
  if (again) {
    log_->info("reconnected to the broker after {} ms", to_ms(now - lost_since_));
    return LinkEvent::reconnected;
  }
  log_->info("connected to the broker at {} as {}", config_.broker, config_.id);
  return LinkEvent::welcomed;
}

LinkEvent BrokerLink::on_error(const wire::Error& error, TimePoint now) {
  if (error.fatal()) {
    fail(std::string("the broker refused this ") + role_name(role_) + ": " + error.text());
    return LinkEvent::failed;
  }
  if (error.code() == wire::NOT_WELCOMED) {
    return lose(now, "the broker does not know this session (did it restart?)");
  }
  if (error.code() == wire::DUPLICATE_ID && !welcomed_) {
    // Not fatal: the other session may be a crashed predecessor the broker has not given up on
    // yet. Ask again soon, until --connect-timeout (or --reconnect-timeout) says it is alive.
    if (duplicate_refusal_.empty()) log_->warn("broker: {}; asking again", error.text());
    duplicate_refusal_ = error.text();
    hello_retry_at_ = now + kDuplicateRetry;
  }
  return LinkEvent::none;  // the session's to handle
}

LinkEvent BrokerLink::on_tick(TimePoint now, std::size_t held) {
  now_ = now;
  if (failed_) return LinkEvent::none;
  if (!welcomed_) return tick_unwelcomed(now, held);
  if (now - last_heard_ > limits_.heartbeat * limits_.liveness) {
    return lose(now,
                "the broker sent nothing for " + std::to_string(to_ms(now - last_heard_)) + " ms");
  }
  if (now - last_sent_ >= limits_.heartbeat) send_heartbeat();
  return LinkEvent::none;
}

void BrokerLink::send_heartbeat() {
  wire::Envelope beat;
  beat.mutable_heartbeat();
  send(std::move(beat));
}

Duration BrokerLink::tick_period() const {
  constexpr Duration kUnwelcomedTick = milliseconds(50);
  return welcomed_ ? conveyor::tick_period(limits_.heartbeat) : kUnwelcomedTick;
}

TimePoint BrokerLink::next_deadline(TimePoint now) const {
  if (!welcomed_ || failed_) return now + tick_period();
  const Duration heartbeat = limits_.heartbeat;
  // Ours is due a tick past a heartbeat, when the broker's (sent on its own ticks, at most a tick
  // late) has usually come and been answered (on_envelope). A busy client sends it up to a tick
  // late as well. The slack stays well inside the broker's patience of --liveness heartbeats:
  // half of the spare ones at most, none with --liveness 1.
  const Duration slack =
      std::min<Duration>(conveyor::tick_period(heartbeat), heartbeat * (limits_.liveness - 1) / 2);
  const TimePoint beat = last_sent_ + heartbeat + slack;
  // on_tick() needs the silence to be longer than liveness heartbeats, not as long.
  const TimePoint silent = last_heard_ + heartbeat * limits_.liveness + milliseconds(1);
  return std::max(now, std::min(beat, silent));
}

LinkEvent BrokerLink::tick_unwelcomed(TimePoint now, std::size_t held) {
  if (auto why = give_up_reason(now, held)) {
    fail(std::move(*why));
    return LinkEvent::failed;
  }
  if (now < hello_retry_at_ || wants_new_connection_) return LinkEvent::none;
  // A hello can be lost with a dying connection: try a fresh socket, less and less often. (A
  // hello refused as a duplicate asks again quietly: the refusal was logged once.)
  if (duplicate_refusal_.empty()) {
    log_->info(
        "no welcome from the broker at {} {} ms after hello; trying a fresh connection (attempt "
        "{})",
        config_.broker, to_ms(now - hello_sent_), hello_backoff_.attempts() + 1);
  }
  wants_new_connection_ = true;
  return LinkEvent::none;
}

std::optional<std::string> BrokerLink::give_up_reason(TimePoint now, std::size_t held) const {
  if (!ever_welcomed_ && now - started_ > config_.connect_timeout) {
    return connect_timeout_failure();
  }
  if (ever_welcomed_ && now - lost_since_ > config_.reconnect_timeout) {
    return refusal_note() + "lost the broker at " + config_.broker + " for " +
           std::to_string(to_ms(now - lost_since_)) + " ms (--reconnect-timeout) with " +
           std::to_string(held) + " tasks unfinished";
  }
  return std::nullopt;
}

std::string BrokerLink::connect_timeout_failure() const {
  const std::string within =
      " within " + std::to_string(to_ms(config_.connect_timeout)) + " ms (--connect-timeout)";
  if (!duplicate_refusal_.empty()) {
    return refusal_note() + "no welcome from the broker at " + config_.broker + within;
  }
  if (!handshake_failure_.empty()) {
    return handshake_failure_ + "; no welcome from the broker at " + config_.broker + within;
  }
  return "no answer from the broker at " + config_.broker + within +
         ": is it running, and is this its " + port_name(role_) + " port?";
}

const char* BrokerLink::admitting_flag() const {
  return role_ == wire::PRODUCER ? "--producer-keys" : "--consumer-keys";
}

std::string BrokerLink::refusal_note() const {
  return duplicate_refusal_.empty() ? "" : duplicate_refusal_ + "; ";
}

LinkEvent BrokerLink::lose(TimePoint now, const std::string& why) {
  if (welcomed_) {
    log_->warn("{}: reconnecting", why);
    lost_since_ = now;
  }
  welcomed_ = false;
  wants_new_connection_ = true;
  return LinkEvent::lost;
}

void BrokerLink::send(wire::Envelope envelope) {
  last_sent_ = now_;
  outbox_.push_back(ToBroker{std::move(envelope), {}});
}

void BrokerLink::send_batch(BatchWriter& batch) {
  last_sent_ = now_;
  batch.finish();
  outbox_.push_back(ToBroker{{}, batch.release()});
  ByteBuffer spare;
  if (!spare_buffers_.empty()) {
    spare = std::move(spare_buffers_.back());
    spare_buffers_.pop_back();
  }
  batch = BatchWriter(std::move(spare));
}

// A session writes a batch or two per round: a few buffers serve it. The rest are freed, so a
// burst of sends does not leave a pool behind.
void BrokerLink::give_back(ByteBuffer buffer) {
  constexpr std::size_t kSpare = 4;
  if (spare_buffers_.size() < kSpare) spare_buffers_.push_back(std::move(buffer));
}

void BrokerLink::fail(std::string why) {
  failed_ = true;
  failure_ = std::move(why);
}

}  // namespace conveyor
