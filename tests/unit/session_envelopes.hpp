// Envelope builders and outbox readers shared by the producer and consumer session tests: the
// sessions are sans-IO, so a test is "feed these envelopes at these times, read the outbox".
#pragma once

#include <cstdint>
#include <initializer_list>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include <gtest/gtest.h>

#include "conveyor/common/broker_link.hpp"
#include "conveyor/common/client_session.hpp"
#include "conveyor/common/clock.hpp"
#include "conveyor/common/codec.hpp"
#include "conveyor/proto/conveyor.pb.h"

namespace conveyor::testing {

// A fixed, non-zero start so that no test depends on the clock's epoch.
inline const TimePoint kStart = TimePoint{} + std::chrono::hours(1);

inline wire::Envelope welcome(std::uint32_t heartbeat_ms = 100, std::uint32_t liveness = 3,
                              std::uint64_t max_payload_bytes = 4u << 20,
                              std::uint64_t max_message_bytes = 16u << 20) {
  wire::Envelope envelope;
  auto* w = envelope.mutable_welcome();
  w->set_broker_instance(42);
  w->set_heartbeat_ms(heartbeat_ms);
  w->set_liveness(liveness);
  w->set_max_payload_bytes(max_payload_bytes);
  w->set_max_message_bytes(max_message_bytes);
  return envelope;
}

inline wire::Envelope credit(std::uint32_t grant) {
  wire::Envelope envelope;
  envelope.mutable_credit()->set_grant(grant);
  return envelope;
}

// Broker -> producer results: (seq, status) pairs.
inline wire::Envelope results(std::initializer_list<std::pair<std::uint64_t, wire::Status>> list) {
  wire::Envelope envelope;
  for (const auto& [seq, status] : list) {
    auto* r = envelope.mutable_results()->add_results();
    r->set_seq(seq);
    r->set_status(status);
    r->set_output("out-" + std::to_string(seq));
    r->set_consumer("c1");
    r->set_attempts(1);
    if (status != wire::OK) r->set_error("error-" + std::to_string(seq));
  }
  return envelope;
}

inline wire::Envelope error(wire::ErrorCode code, std::vector<std::uint64_t> rejected = {},
                            bool fatal = false) {
  wire::Envelope envelope;
  auto* e = envelope.mutable_error();
  e->set_code(code);
  e->set_text("refused for a test");
  e->set_fatal(fatal);
  for (auto seq : rejected)
    e->add_rejected_seqs(seq);
  return envelope;
}

inline wire::Envelope pill() {
  wire::Envelope envelope;
  envelope.mutable_pill();
  return envelope;
}

inline wire::Envelope heartbeat() {
  wire::Envelope envelope;
  envelope.mutable_heartbeat();
  return envelope;
}

// Broker -> consumer tasks of `producer` with the given seqs; payload "task-<seq>".
inline wire::Envelope tasks(const std::string& producer, const std::vector<std::uint64_t>& seqs) {
  wire::Envelope envelope;
  for (auto seq : seqs) {
    auto* t = envelope.mutable_tasks()->add_tasks();
    t->set_producer(producer);
    t->set_seq(seq);
    t->set_attempt(1);
    t->set_payload("task-" + std::to_string(seq));
  }
  return envelope;
}

// Moves the outbox out, so each read sees only what was emitted since the last one; a frame sent
// encoded is parsed back, so that tests read every message the same way.
inline std::vector<wire::Envelope> take_outbox(BrokerLink& link) {
  std::vector<wire::Envelope> out;
  for (auto& sent : link.outbox()) {
    if (!sent.is_batch()) {
      out.push_back(std::move(sent.envelope));
    } else if (!out.emplace_back().ParseFromString(std::string(sent.frame()))) {
      ADD_FAILURE() << "an encoded frame in the outbox does not parse";
    }
  }
  link.outbox().clear();
  return out;
}

// `envelope` as the broker's frame: with the protocol version, serialized, shared the way
// ClientRuntime shares a received frame with on_frame.
inline std::shared_ptr<std::string> frame_of(wire::Envelope envelope) {
  envelope.set_version(kProtocolVersion);
  return std::make_shared<std::string>(envelope.SerializeAsString());
}

// As ClientRuntime gives a frame to either session: offered to on_frame (batches are read in
// place there), decoded for on_envelope only when refused.
inline void give_frame(ClientSession& session, wire::Envelope envelope, TimePoint now) {
  envelope.set_version(kProtocolVersion);
  const auto frame = frame_of(envelope);
  if (!session.on_frame(*frame, frame, now)) session.on_envelope(envelope, now);
}

// The size of each message in the outbox, as it would go on the wire.
inline std::vector<std::size_t> frame_sizes(BrokerLink& link) {
  std::vector<std::size_t> sizes;
  for (const auto& sent : link.outbox()) {
    sizes.push_back(sent.is_batch() ? sent.frame().size() : sent.envelope.ByteSizeLong());
  }
  return sizes;
}

template <class Session>
std::vector<wire::Envelope> take_outbox(Session& session) {
  return take_outbox(session.link());
}

inline std::vector<wire::Envelope::BodyCase> bodies(const std::vector<wire::Envelope>& out) {
  std::vector<wire::Envelope::BodyCase> cases;
  for (const auto& e : out)
    cases.push_back(e.body_case());
  return cases;
}

inline std::size_t count_of(const std::vector<wire::Envelope>& out, wire::Envelope::BodyCase body) {
  std::size_t n = 0;
  for (const auto& e : out)
    n += e.body_case() == body ? 1 : 0;
  return n;
}

// The seqs of every task in every TaskBatch of `out`, in order.
inline std::vector<std::uint64_t> task_seqs(const std::vector<wire::Envelope>& out) {
  std::vector<std::uint64_t> seqs;
  for (const auto& e : out) {
    if (!e.has_tasks()) continue;
    for (const auto& t : e.tasks().tasks())
      seqs.push_back(t.seq());
  }
  return seqs;
}

template <class Refs>
std::vector<std::uint64_t> ref_seqs(const Refs& refs) {
  std::vector<std::uint64_t> seqs;
  for (const auto& r : refs)
    seqs.push_back(r.seq());
  return seqs;
}

}  // namespace conveyor::testing
