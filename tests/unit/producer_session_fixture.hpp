// The fixture shared by the producer::Session tests: a session driven by hand, with envelopes in,
// an injected clock, and the outbox read back.
#pragma once

#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <vector>

#include "conveyor/common/codec.hpp"
#include "conveyor/producer/session.hpp"
#include "unit/session_envelopes.hpp"

namespace conveyor::producer {

// Timeouts of 5 s (connect) and 20 s (reconnect).
inline SessionConfig config_with_window(std::size_t window) {
  SessionConfig config;
  config.id = "p1";
  config.window = window;
  config.connect_timeout = milliseconds(5000);
  config.reconnect_timeout = milliseconds(20000);
  config.broker = "tcp://broker:5555";
  return config;
}

// A session at a fixed start time, id p1, window 100 (use_window() for another).
class ProducerSession : public ::testing::Test {
 protected:
  void use_window(std::size_t window) { session = Session(config_with_window(window), now); }
  void feed(wire::Envelope envelope) { testing::give_frame(session, std::move(envelope), now); }
  // A new connection, welcomed; what it said on the way is discarded.
  void connect(wire::Envelope welcome_envelope = testing::welcome()) {
    session.on_connect(now);
    feed(std::move(welcome_envelope));
    testing::take_outbox(session);
  }
  // The broker forgot us: the session asks for a new socket and is welcomed on it.
  void reconnect() {
    feed(testing::error(wire::NOT_WELCOMED));
    ASSERT_TRUE(session.link().wants_new_connection());
    connect();
  }
  void add(std::size_t n) {
    for (std::size_t i = 0; i < n; ++i)
      session.add_task("payload-" + std::to_string(session.counts().produced));
  }
  std::vector<wire::Envelope> flush() {
    session.flush(now);
    return testing::take_outbox(session);
  }
  std::vector<std::uint64_t> finished_seqs() {
    std::vector<std::uint64_t> seqs;
    for (const auto& r : session.finished_results())
      seqs.push_back(r.seq);
    session.finished_results().clear();
    return seqs;
  }

  TimePoint now = testing::kStart;
  Session session{config_with_window(100), testing::kStart};
};

}  // namespace conveyor::producer
