// BrokerLink: the half of a client's session that producers and consumers share, with no sockets.
//
// It says hello on every new connection, takes the broker's Welcome (and the limits in it), keeps
// the link alive with heartbeats, notices a broker gone silent, retries an unanswered hello with
// a fresh connection (2 s, doubling to 30 s), and gives up with one clear sentence: no welcome
// within --connect-timeout, a lost broker not back within --reconnect-timeout, or a fatal
// refusal. Sessions own one, send through it, and react to the LinkEvent each input returns.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <spdlog/logger.h>

#include "conveyor/common/backoff.hpp"
#include "conveyor/common/batch_writer.hpp"
#include "conveyor/common/clock.hpp"
#include "conveyor/proto/conveyor.pb.h"

namespace conveyor {

// What the broker announced in its Welcome; a client checks what it sends against these.
struct BrokerLimits {
  Duration heartbeat = milliseconds(1000);
  std::uint32_t liveness = 3;  // heartbeats that may be missed before a peer counts as gone
  std::uint64_t max_payload_bytes = 4u << 20;
  std::uint64_t max_message_bytes = 16u << 20;
};

// What a client's link is set up with; each session's config extends it.
struct LinkConfig {
  std::string id;
  Duration connect_timeout = milliseconds(10000);
  Duration reconnect_timeout = milliseconds(60000);
  std::string broker;  // the endpoint, for messages only
  std::string queue;   // --queue: where a producer's tasks go, where a consumer takes from
};

// One message for the broker, in the order the session sent it: an envelope, or a batch written
// already as its bytes (BatchWriter: results without a protobuf message per result), whose
// buffer the shell lends to ZeroMQ instead of copying it (LentBuffers).
struct ToBroker {
  wire::Envelope envelope;  // when there is no batch
  BatchBuffer batch;        // a finished BatchWriter's buffer

  bool is_batch() const { return batch.size > 0; }
  std::string_view frame() const { return batch.frame(); }
};

// What an input did to the link, for the session to react to.
enum class LinkEvent {
  none,
  welcomed,     // the first Welcome of this process
  reconnected,  // a Welcome after the link was lost: a new broker session
  lost,         // the broker session is over (silence, or it does not know us): reconnecting
  failed,       // given up; failure() says why
};

class BrokerLink {
 public:
  // How often a hello refused with DUPLICATE_ID asks again: the broker declares the other
  // session gone within heartbeat x liveness (3 s by default), so a restarted producer gets in
  // soon after its crashed predecessor's session ends.
  static constexpr Duration kDuplicateRetry = milliseconds(1000);

  BrokerLink(const LinkConfig& config, wire::Role role, std::shared_ptr<spdlog::logger> log,
             TimePoint now);

  // A new connection: queues the hello and returns it for the session to add its own fields.
  wire::Hello& on_connect(TimePoint now);
  // Any message from the broker shows it is alive; Welcome and Error bodies are handled here.
  LinkEvent on_envelope(const wire::Envelope& envelope, TimePoint now);
  // A batch the session read in place (BatchReader): like any message, it shows the broker alive.
  void on_batch(TimePoint now) {
    now_ = now;
    last_heard_ = now;
  }
  // Deadlines and heartbeats. `held`: tasks the session would give up with the link (for the
  // failure message).
  LinkEvent on_tick(TimePoint now, std::size_t held);
  // How often on_tick() should run while the client has work: tick_period() of the broker's
  // heartbeat once welcomed; 50 ms until then, while hellos are retried and --connect-timeout
  // runs. An idle client is ticked at next_deadline() instead.
  Duration tick_period() const;
  // The first moment on_tick() has something to do on a link with no work riding on it: our
  // heartbeat due, the broker silent past --liveness heartbeats; every tick_period() until
  // welcomed. An idle client ticks only then (ClientSession::next_tick()).
  TimePoint next_deadline(TimePoint now) const;

  // Queues `envelope` for the broker; the heartbeat clock counts it.
  void send(wire::Envelope envelope);
  // Finishes `batch` and queues its frame the same way. Its buffer moves to the outbox, not a
  // copy of it, and `batch` is left with a buffer given back after an earlier send (or none).
  void send_batch(BatchWriter& batch);
  // A sent batch's buffer, back from the shell once ZeroMQ is done with it, for send_batch().
  void give_back(ByteBuffer buffer);
  // The time for what is sent next, when it is not an input above that brings it (a flush).
  void advance(TimePoint now) { now_ = now; }
  std::vector<ToBroker>& outbox() { return outbox_; }
  // Gives up for good: the session is failed and the process exits non-zero with `why`.
  void fail(std::string why);

  // The last failed handshake's likely cause (HandshakeMonitor), cleared by a successful one; it
  // replaces the generic guess in the connect-timeout error.
  void on_handshake_failure(std::string cause) { handshake_failure_ = std::move(cause); }
  void on_handshake_succeeded() { handshake_failure_.clear(); }

  // The broker went silent or refused us: the shell replaces the socket, then calls on_connect().
  bool wants_new_connection() const { return wants_new_connection_; }
  bool welcomed() const { return welcomed_; }  // on the current connection
  bool ever_welcomed() const { return ever_welcomed_; }
  bool failed() const { return failed_; }
  const std::string& failure() const { return failure_; }
  const BrokerLimits& limits() const { return limits_; }
  const LinkConfig& config() const { return config_; }
  wire::Role role() const { return role_; }
  // The broker flag whose list admits our CURVE key, to name it when a handshake is refused.
  const char* admitting_flag() const;
  TimePoint now() const { return now_; }

 private:
  LinkEvent on_welcome(const wire::Welcome& welcome, TimePoint now);
  LinkEvent on_error(const wire::Error& error, TimePoint now);
  void send_heartbeat();
  LinkEvent tick_unwelcomed(TimePoint now, std::size_t held);
  std::optional<std::string> give_up_reason(TimePoint now, std::size_t held) const;
  LinkEvent lose(TimePoint now, const std::string& why);
  std::string connect_timeout_failure() const;
  std::string refusal_note() const;

  LinkConfig config_;
  wire::Role role_;
  std::shared_ptr<spdlog::logger> log_;
  BrokerLimits limits_;
  bool welcomed_ = false;
  bool ever_welcomed_ = false;
  bool failed_ = false;
  bool wants_new_connection_ = false;
  std::string failure_;
  std::string handshake_failure_;
  std::string duplicate_refusal_;  // DUPLICATE_ID: another live process holds our id
  std::uint64_t process_;          // Hello.process: this process, on every connection
  TimePoint now_;
  TimePoint started_;
  TimePoint hello_sent_{};
  // Hello retries: 2 s, then twice as long each time, at most 30 s (libzmq reconnects the TCP
  // link by itself meanwhile; a fresh socket is for a hello lost with a dying connection).
  Backoff hello_backoff_{std::chrono::seconds(2), std::chrono::seconds(30)};
  TimePoint hello_retry_at_{};
  TimePoint last_heard_{};
  TimePoint last_sent_{};
  TimePoint lost_since_{};
  std::vector<ToBroker> outbox_;
  std::vector<ByteBuffer> spare_buffers_;  // give_back(): a few, for the next batches
};

}  // namespace conveyor
