// HandshakeMonitor: why a client's connection to the broker never got past the handshake. libzmq
// reports a refused key or a failed CURVE handshake only as socket monitor events; this watches
// them on an inproc PAIR in the client's poll set and turns them into a sentence a user can act on
// ("the broker refused our key (not in its --producer-keys?)") for the connect-timeout error.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include <zmq.hpp>

namespace conveyor {

// One libzmq monitor event, as far as a handshake is concerned.
struct HandshakeEvent {
  std::uint16_t event = 0;  // ZMQ_EVENT_HANDSHAKE_*
  std::uint32_t value = 0;  // the ZAP status code or ZMQ_PROTOCOL_ERROR_* for failures
};

// What a failed handshake most likely means, for a client whose admission list on the broker is
// `keys_flag` (--producer-keys or --consumer-keys) and that uses CURVE itself when `curve`.
// Nothing for a success or an unrelated event.
std::optional<std::string> describe_handshake_failure(const HandshakeEvent& event,
                                                      const std::string& keys_flag, bool curve);

class HandshakeMonitor {
 public:
  // Starts monitoring `socket` (before it connects, so no event is missed).
  HandshakeMonitor(zmq::context_t& context, zmq::socket_t& socket);
  // Stops the monitor; call before `socket` is closed.
  ~HandshakeMonitor();
  HandshakeMonitor(const HandshakeMonitor&) = delete;
  HandshakeMonitor& operator=(const HandshakeMonitor&) = delete;

  // The PAIR socket for the event loop.
  zmq::socket_t& socket() { return pair_; }
  // The next event already received, or nothing.
  std::optional<HandshakeEvent> next();

 private:
  zmq::socket_t& monitored_;
  zmq::socket_t pair_;
};

}  // namespace conveyor
