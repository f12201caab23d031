#include "conveyor/broker/core.hpp"

#include <algorithm>
#include <cassert>

#include "conveyor/broker/core_sessions.hpp"
#include "conveyor/common/logging.hpp"
#include "conveyor/common/task.hpp"

namespace conveyor::broker {
namespace {

std::string hex_route(std::string_view route) {
  static constexpr char digits[] = "0123456789abcdef";
  std::string out;
  for (unsigned char c : route) {
    out.push_back(digits[c >> 4]);
    out.push_back(digits[c & 0xf]);
  }
  return out;
}

BadInput bad_input_for(DecodeError error) {
  switch (error) {
    case DecodeError::empty:
      return BadInput::empty;
    case DecodeError::too_large:
      return BadInput::too_large;
    case DecodeError::malformed:
      return BadInput::malformed;
    case DecodeError::version_mismatch:
      return BadInput::version_mismatch;
    case DecodeError::no_body:
      return BadInput::no_body;
  }
  return BadInput::malformed;
}

}  // namespace

const char* to_string(BadInput kind) {
  static constexpr const char* names[] = {
      "frame_count",    "empty",           "too_large",    "malformed",   "version_mismatch",
      "no_body",        "not_welcomed",    "wrong_socket", "bad_request", "invalid_hello",
      "too_many_peers", "credit_exceeded", "not_holder",   "not_held",    "unsent_ack",
      "out_of_run",     "duplicate_id",    "bad_emit"};
  static_assert(std::size(names) == static_cast<std::size_t>(BadInput::count_));
  return names[static_cast<std::size_t>(kind)];
}

Core::Core(Config config, TimePoint now)
    : config_(std::move(config)),
      log_(logger("broker")),
      instance_(random_nonce()),
      last_now_(now),
      retry_delay_(config_.retry_delay, config_.retry_delay_max,
                   config_.random_seed.value_or(random_nonce())),
      run_started_(now),
      run_(config_.expected_producers, config_.service) {
  queue_named("");  // the default queue is number 0
}

Core::~Core() = default;

std::size_t Core::in_flight() const {
  std::size_t total = 0;
  for (const auto& [serial, consumer] : consumers_)
    total += consumer->in_flight.size();
  return total;
}

void Core::on_frames(Side side, std::string_view route, std::span<const std::string_view> frames,
                     std::string_view address, TimePoint now) {
  last_now_ = now;
  if (frames.size() != 1) {
    count_bad(BadInput::frame_count, side, route, address,
              "expected 1 frame after the routing id, got " + std::to_string(frames.size()), now);
    reply_error(side, route, wire::MALFORMED, "expected exactly one frame holding an Envelope");
    return;
  }
  if (read_batch_in_place(side, route, frames[0], address, now)) return;
  auto error = decoder_.decode(frames[0], config_.max_message_bytes);
  wire::Envelope& envelope = decoder_.envelope();
  if (error) {
    const BadInput kind = bad_input_for(*error);
    std::string detail =
        std::string(to_string(*error)) + " (" + std::to_string(frames[0].size()) + " bytes)";
    if (*error == DecodeError::version_mismatch) {
      detail += ": got version " + std::to_string(envelope.version()) + ", this broker speaks " +
                std::to_string(kProtocolVersion);
    }
    count_bad(kind, side, route, address, detail, now);
    reply_error(side, route, error_code_for(*error), detail,
                *error == DecodeError::version_mismatch);
    if (*error == DecodeError::too_large) end_oversized_session(side, route);
    return;
  }
  on_envelope(side, route, envelope, address, now);
}

// A message too large to read may be a consumer's results: nothing tells which deliveries it
// ends, and leaving them in flight with a live consumer would hold the run open for ever. So the
// session ends, and its deliveries are lost as if it had died (redelivered, or dead after
// --max-attempts). A consumer checks its results against the Welcome's limits first, so only a
// broken one gets here.
void Core::end_oversized_session(Side side, std::string_view route) {
  if (side != Side::backend) return;  // a producer's tasks stay its own: it sends them again
  if (auto it = consumer_routes_.find(std::string(route)); it != consumer_routes_.end()) {
    end_consumer(it->second, "sent a message over --max-message-bytes");
  }
}

// The fast path (common/batch_reader.hpp): tasks from a producer or results from a consumer, read
// in place. A frame it does not take (anything else, or anything it cannot vouch for) goes to the
// decoder, which gives every answer a refused frame gets.
bool Core::read_batch_in_place(Side side, std::string_view route, std::string_view frame,
                               std::string_view address, TimePoint now) {
  if (frame.empty() || frame.size() > config_.max_message_bytes) return false;
  using Kind = BatchReader::Kind;
  const Kind kind = batch_reader_.read(frame, kProtocolVersion);
  // What the other side sends (a consumer's ack, a producer's results) is left to decode(), which
  // answers it as the bad request it is.
  const bool ours =
      side == Side::frontend ? kind == Kind::tasks || kind == Kind::acks : kind == Kind::results;
  if (!ours) return false;
  if (!welcomed(side, route, body_name(kind), address, now)) return true;
  if (kind == Kind::results) {
    on_results(heard_from_consumer(route, now), batch_reader_.results(), now);
  } else if (kind == Kind::tasks) {
    on_tasks(heard_from_producer(route, now), batch_reader_.tasks(), now);
  } else {
    on_ack(heard_from_producer(route, now), batch_reader_.acked(), now);
  }
  return true;
}

// The session of a welcomed route (welcomed() checked it), marked as heard from now.
Core::ProducerBook& Core::heard_from_producer(std::string_view route, TimePoint now) {
  ProducerBook& producer = *producers_[producer_routes_.at(std::string(route))];
  producer.last_heard = now;
  return producer;
}

Core::ConsumerSession& Core::heard_from_consumer(std::string_view route, TimePoint now) {
  ConsumerSession& consumer = *consumers_.at(consumer_routes_.at(std::string(route)));
  consumer.last_heard = now;
  return consumer;
}

// Anything but a hello needs a session; `body` names the message for the log.
bool Core::welcomed(Side side, std::string_view route, const char* body, std::string_view address,
                    TimePoint now) {
  const bool known = side == Side::frontend ? producer_routes_.contains(std::string(route))
                                            : consumer_routes_.contains(std::string(route));
  if (known) return true;
  count_bad(BadInput::not_welcomed, side, route, address,
            std::string(body) + " from a peer without a session", now);
  reply_error(side, route, wire::NOT_WELCOMED, "no session: say hello first");
  return false;
}

void Core::on_envelope(Side side, std::string_view route, wire::Envelope& envelope,
                       std::string_view address, TimePoint now) {
  last_now_ = now;
  if (envelope.has_hello()) {
    if (!check_hello(side, route, envelope.hello(), address, now)) return;
    if (side == Side::frontend) {
      on_producer_hello(route, envelope.hello(), address, now);
    } else {
      on_consumer_hello(route, envelope.hello(), address, now);
    }
    return;
  }
  if (!welcomed(side, route, body_name(envelope), address, now)) return;
  if (side == Side::frontend) {
    on_producer_message(route, envelope, now);
  } else {
    on_consumer_message(route, envelope, now);
  }
}

bool Core::check_hello(Side side, std::string_view route, const wire::Hello& hello,
                       std::string_view address, TimePoint now) {
  const auto expected = side == Side::frontend ? wire::PRODUCER : wire::CONSUMER;
  if (hello.role() != expected) {
    const bool swapped = hello.role() == wire::PRODUCER || hello.role() == wire::CONSUMER;
    const std::string text =
        swapped ? (side == Side::frontend
                       ? "this is the producer port (--frontend): consumers connect to --backend"
                       : "this is the consumer port (--backend): producers connect to --frontend")
                : "hello without a valid role";
    count_bad(swapped ? BadInput::wrong_socket : BadInput::invalid_hello, side, route, address,
              text, now);
    reply_error(side, route, swapped ? wire::WRONG_SOCKET : wire::INVALID_HELLO, text, true);
    return false;
  }
  std::string problem;
  if (!is_valid_peer_id(hello.id())) {
    problem = "invalid id: 1-64 characters of A-Z a-z 0-9 . _ -";
  } else if (side == Side::backend &&
             (hello.capacity() == 0 || hello.capacity() > config_.max_consumer_capacity)) {
    problem = "capacity must be 1.." + std::to_string(config_.max_consumer_capacity);
  } else if (auto queues = check_queues(side, hello)) {
    problem = *queues;
  }
  if (!problem.empty()) {
    count_bad(BadInput::invalid_hello, side, route, address, problem, now);
    reply_error(side, route, wire::INVALID_HELLO, problem, true);
    return false;
  }
  const bool rejoining = producer_routes_.contains(std::string(route)) ||
                         consumer_routes_.contains(std::string(route));
  if (!rejoining && producer_routes_.size() + consumers_.size() >= config_.max_peers) {
    count_bad(BadInput::too_many_peers, side, route, address, "--max-peers reached", now);
    reply_error(side, route, wire::TOO_MANY_PEERS,
                "the broker has " + std::to_string(config_.max_peers) + " peers (--max-peers)");
    return false;
  }
  return true;
}

void Core::on_producer_hello(std::string_view route, const wire::Hello& hello,
                             std::string_view address, TimePoint now) {
  if (stopping_) {
    reply_error(Side::frontend, route, wire::SHUTTING_DOWN, "the broker is shutting down");
    return;
  }
  if (auto it = producer_routes_.find(std::string(route)); it != producer_routes_.end()) {
    detach_producer(*producers_[it->second], now, false);  // a second hello on one connection
  }
  if (refuse_duplicate_id(Side::frontend, route, hello, address, now)) return;
  ProducerBook& producer = *producers_[producer_slot(hello.id())];
  if (producer.connected()) {
    log_->info("producer {} reconnected from {}: the new session replaces the old one", producer.id,
               address);
    detach_producer(producer, now, false);
  }
  producer.process = hello.process();
  producer.queue = *queue_named(hello.queue());  // made by check_hello()
  join_run(producer, hello.resuming(), now);
  producer.route = std::string(route);
  producer.address = std::string(address);
  producer.session_pilled = false;
  producer.last_heard = now;
  producer_routes_.emplace(std::string(route), producer.slot);
  log_->info("producer {} connected from {} ({})", producer.id, address, hello.agent());
  welcome_producer(producer, now);
}

// §7.1: one live process per id. The same process reconnecting takes its session over at once;
// another process using the id is refused while that session is alive (it asks again, and gets
// in once the session is declared gone: a producer restarted after a crash takes over within a
// few heartbeats). Without this two producers with one --id would share one record: each one's
// seq N a duplicate of the other's, results to whichever held the id last.
bool Core::refuse_duplicate_id(Side side, std::string_view route, const wire::Hello& hello,
                               std::string_view address, TimePoint now) {
  const auto holder = live_session_of(side, hello.id());
  if (!holder || holder->process == hello.process() || holder->route == route) return false;
  const char* role = side == Side::frontend ? "producer" : "consumer";
  count_bad(BadInput::duplicate_id, side, route, address,
            std::string(role) + " id " + hello.id() + " is held by a live session from " +
                holder->address,
            now);
  reply_error(side, route, wire::DUPLICATE_ID,
              std::string("another ") + role + " with --id " + hello.id() + " is connected (from " +
                  holder->address + "); ids must be unique among live " + role + "s");
  return true;
}

std::optional<Core::LiveSession> Core::live_session_of(Side side, const std::string& id) const {
  if (side == Side::frontend) {
    auto it = producer_slots_.find(id);
    if (it == producer_slots_.end() || !producers_[it->second]->connected()) return std::nullopt;
    const ProducerBook& p = *producers_[it->second];
    return LiveSession{p.process, *p.route, p.address};
  }
  for (const auto& [serial, c] : consumers_) {
    if (c->id == id) return LiveSession{c->process, c->route, c->address};
  }
  return std::nullopt;
}

void Core::join_run(ProducerBook& producer, bool resuming, TimePoint now) {
  const bool was_drained = run_.drained();
  if (run_.on_hello(producer.slot, resuming)) {
    run_started_ = now;  // the run's clock starts with its first producer
    run_start_stats_ = stats_;
  }
  if (was_drained && !run_.drained()) {
    log_->info("a new run begins: producer {} said hello after the drain", producer.id);
    reset_stages();
  }
}

void Core::welcome_producer(ProducerBook& producer, TimePoint now) {
  send(producer, welcome());
  // Results it has not acknowledged may have been lost with its old connection: send them again.
  producer.to_send.clear();
  producer.unacked.for_each([&](std::uint64_t seq, FinalResult& result) {
    result.sent = false;
    producer.to_send.push_back(seq);
  });
  if (!producer.to_send.empty()) results_pending_.push_back(producer.slot);
  if (run_.drained()) {  // a producer of the drained run, reconnecting: its run is over
    wire::Envelope drained;
    *drained.mutable_drained()->mutable_summary() = run_summary(now);
    send(producer, std::move(drained));
  }
}

// A consumer's new session ends the one it had (on this connection, or under this id).
void Core::end_replaced_consumer(std::string_view route, const std::string& id) {
  if (auto it = consumer_routes_.find(std::string(route)); it != consumer_routes_.end()) {
    end_consumer(it->second, "it started a new session on the same connection");
  }
  for (const auto& [serial, other] : consumers_) {
    if (other->id == id) {
      end_consumer(serial, "it reconnected as a new session");
      break;
    }
  }
}

void Core::on_consumer_hello(std::string_view route, const wire::Hello& hello,
                             std::string_view address, TimePoint now) {
  if (refuse_duplicate_id(Side::backend, route, hello, address, now)) return;
  end_replaced_consumer(route, hello.id());
  auto session = std::make_unique<ConsumerSession>();
  session->serial = next_consumer_serial_++;
  session->route = std::string(route);
  session->id = hello.id();
  session->address = std::string(address);
  session->process = hello.process();
  session->queue = *queue_named(hello.queue());  // made by check_hello()
  if (!hello.emit_to().empty()) session->emit_to = *queue_named(hello.emit_to());
  session->capacity = hello.capacity();
  session->last_heard = now;
  session->connected_at = now;
  ConsumerSession& consumer = *session;
  consumer_routes_.emplace(consumer.route, consumer.serial);
  consumers_.emplace(consumer.serial, std::move(session));
  declare_emit_edge(consumer);
  log_->info("consumer {} connected from {} with capacity {} to queue {}{} ({})", consumer.id,
             address, consumer.capacity, queues_[consumer.queue]->name,
             consumer.emit_to ? " emitting to " + queues_[*consumer.emit_to]->name : "",
             hello.agent());

  send(consumer, welcome());
  if (consumers_released() || queues_[consumer.queue]->finished) {
    // §2.4: the run is over; a late joiner is told so at once.
    consumer.pilled = true;
    wire::Envelope pill;
    pill.mutable_pill();
    send(consumer, std::move(pill));
  }
}

namespace {
std::span<const std::uint64_t> seqs_of(const wire::Ack& ack) {
  return {ack.seqs().data(), static_cast<std::size_t>(ack.seqs().size())};
}
}  // namespace

void Core::on_producer_message(std::string_view route, wire::Envelope& envelope, TimePoint now) {
  ProducerBook& producer = heard_from_producer(route, now);
  switch (envelope.body_case()) {
    case wire::Envelope::kTasks:
      return on_tasks(producer, batch_reader_.view(*envelope.mutable_tasks()), now);
    case wire::Envelope::kPill:
      return on_pill(producer, envelope.pill(), now);
    case wire::Envelope::kAck:
      return on_ack(producer, seqs_of(envelope.ack()), now);
    case wire::Envelope::kGoodbye:
      return on_producer_goodbye(producer, envelope.goodbye(), now);
    case wire::Envelope::kHeartbeat:
      return;
    case wire::Envelope::kError:
      log_->warn("producer {} reported an error: {}", producer.id, envelope.error().text());
      return;
    default:
      count_bad(BadInput::bad_request, Side::frontend, route, producer.address,
                std::string("producers do not send ") + body_name(envelope), now);
      reply_error(Side::frontend, route, wire::BAD_REQUEST,
                  std::string("producers do not send ") + body_name(envelope));
  }
}

void Core::on_consumer_message(std::string_view route, wire::Envelope& envelope, TimePoint now) {
  ConsumerSession& consumer = heard_from_consumer(route, now);
  switch (envelope.body_case()) {
    case wire::Envelope::kResults:
      return on_results(consumer, batch_reader_.view(envelope.results()), now);
    case wire::Envelope::kCredit:
      return on_credit(consumer, envelope.credit(), now);
    case wire::Envelope::kGoodbye:
      return on_consumer_goodbye(consumer, envelope.goodbye(), now);
    case wire::Envelope::kHeartbeat:
      return;
    case wire::Envelope::kError:
      log_->warn("consumer {} reported an error: {}", consumer.id, envelope.error().text());
      return;
    default:
      count_bad(BadInput::bad_request, Side::backend, route, consumer.address,
                std::string("consumers do not send ") + body_name(envelope), now);
      reply_error(Side::backend, route, wire::BAD_REQUEST,
                  std::string("consumers do not send ") + body_name(envelope));
  }
}

// An acknowledgement ends the broker's duty for a result: only one the session was sent counts.
// One for a result it was not sent is bad input (it would drop a result nobody wrote); one for a
// result already forgotten is a harmless repeat (an ack crossing a resend).
void Core::on_ack(ProducerBook& producer, std::span<const std::uint64_t> seqs, TimePoint now) {
  std::size_t unsent = 0;
  // A result not sent yet stays: it was not acknowledged, whatever the producer says.
  const auto sent = [&unsent](const FinalResult& result) {
    unsent += result.sent ? 0 : 1;
    return result.sent;
  };
  for (const std::uint64_t seq : seqs)
    producer.unacked.erase_if(seq, sent);  // an unknown seq: acknowledged before, nothing to do
  if (unsent > 0) {
    count_bad(BadInput::unsent_ack, Side::frontend, *producer.route, producer.address,
              "producer " + producer.id + " acknowledged " + std::to_string(unsent) +
                  " results it was not sent",
              now);
  }
}

void Core::count_bad(BadInput kind, Side side, std::string_view route, std::string_view address,
                     const std::string& detail, TimePoint now) {
  const auto i = static_cast<std::size_t>(kind);
  ++stats_.bad_input[i];
  // At most one line per kind per second: a peer spraying garbage must not flood the log.
  if (last_bad_log_[i] != TimePoint{} && now - last_bad_log_[i] < milliseconds(1000)) {
    ++bad_suppressed_[i];
    return;
  }
  log_->warn("bad input ({}) on the {} socket from peer {} at {}: {}{}", to_string(kind),
             side == Side::frontend ? "producer" : "consumer", hex_route(route),
             address.empty() ? "?" : address, detail,
             bad_suppressed_[i] ? " (+" + std::to_string(bad_suppressed_[i]) + " like it)" : "");
  last_bad_log_[i] = now;
  bad_suppressed_[i] = 0;
}

wire::Envelope Core::welcome() const {
  wire::Envelope envelope;
  auto* w = envelope.mutable_welcome();
  w->set_broker_instance(instance_);
  w->set_heartbeat_ms(static_cast<std::uint32_t>(to_ms(config_.heartbeat)));
  w->set_liveness(config_.liveness);
  w->set_max_payload_bytes(config_.max_payload_bytes);
  w->set_max_message_bytes(config_.max_message_bytes);
  return envelope;
}

void Core::reply_error(Side side, std::string_view route, wire::ErrorCode code, std::string text,
                       bool fatal) {
  outbox_.push_back(Outgoing{side, std::string(route), make_error(code, std::move(text), fatal)});
}

void Core::send(ConsumerSession& consumer, wire::Envelope envelope) {
  consumer.last_sent = last_now_;
  outbox_.push_back(Outgoing{Side::backend, consumer.route, std::move(envelope)});
}

void Core::send(ProducerBook& producer, wire::Envelope envelope) {
  assert(producer.connected());
  producer.last_sent = last_now_;
  outbox_.push_back(Outgoing{Side::frontend, *producer.route, std::move(envelope)});
}

void Core::send(ConsumerSession& consumer, BatchWriter&& batch) {
  consumer.last_sent = last_now_;
  batch.finish();
  outbox_.push_back(Outgoing{Side::backend, consumer.route, {}, std::move(batch)});
}

void Core::send(ProducerBook& producer, BatchWriter&& batch) {
  assert(producer.connected());
  producer.last_sent = last_now_;
  batch.finish();
  outbox_.push_back(Outgoing{Side::frontend, *producer.route, {}, std::move(batch)});
}

}  // namespace conveyor::broker
