#include "conveyor/common/handshake_monitor.hpp"

#include <cstring>

#include "conveyor/common/sockets.hpp"

namespace conveyor {
namespace {

constexpr int kEvents = ZMQ_EVENT_HANDSHAKE_SUCCEEDED | ZMQ_EVENT_HANDSHAKE_FAILED_NO_DETAIL |
                        ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL | ZMQ_EVENT_HANDSHAKE_FAILED_AUTH;

std::string describe_protocol_error(std::uint32_t code) {
  switch (code) {
    case ZMQ_PROTOCOL_ERROR_ZMTP_MECHANISM_MISMATCH:
      return "security mismatch with the broker: one side uses --curve and the other does not";
    case ZMQ_PROTOCOL_ERROR_ZMTP_CRYPTOGRAPHIC:
      return "CURVE handshake failed (a cryptographic error): wrong --broker-public-key?";
    default:
      return "CURVE handshake failed (ZMTP protocol error " + std::to_string(code) +
             "): wrong --broker-public-key, or not a Conveyor broker?";
  }
}

}  // namespace

std::optional<std::string> describe_handshake_failure(const HandshakeEvent& event,
                                                      const std::string& keys_flag, bool curve) {
  switch (event.event) {
    case ZMQ_EVENT_HANDSHAKE_FAILED_AUTH:
      if (event.value == 400) return "the broker refused our key (not in its " + keys_flag + "?)";
      return "the broker refused our key (ZAP status " + std::to_string(event.value) + ")";
    case ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL:
      return describe_protocol_error(event.value);
    case ZMQ_EVENT_HANDSHAKE_FAILED_NO_DETAIL:
      // The broker hung up mid-handshake: on a CURVE hello it cannot decrypt (the key we think
      // it has), or, when it saw the mechanism mismatch before we did, on our plain greeting.
      if (!curve)
        return std::string("the broker hung up during the handshake: does it use --curve?");
      return std::string("CURVE handshake failed: wrong --broker-public-key?");
    default:
      return std::nullopt;
  }
}

HandshakeMonitor::HandshakeMonitor(zmq::context_t& context, zmq::socket_t& socket)
    : monitored_(socket), pair_(context, zmq::socket_type::pair) {
  const std::string endpoint = unique_inproc_endpoint("handshake-monitor");
  if (zmq_socket_monitor(monitored_.handle(), endpoint.c_str(), kEvents) != 0) throw zmq::error_t();
  pair_.set(zmq::sockopt::linger, 0);
  pair_.connect(endpoint);
}

HandshakeMonitor::~HandshakeMonitor() {
  zmq_socket_monitor(monitored_.handle(), nullptr, 0);
}

std::optional<HandshakeEvent> HandshakeMonitor::next() {
  zmq::message_t header;
  if (!pair_.recv(header, zmq::recv_flags::dontwait)) return std::nullopt;
  std::optional<HandshakeEvent> event;
  if (header.size() >= 6) {
    HandshakeEvent parsed;
    std::memcpy(&parsed.event, header.data(), sizeof parsed.event);
    std::memcpy(&parsed.value, static_cast<const char*>(header.data()) + 2, sizeof parsed.value);
    event = parsed;
  }
  while (header.more()) {  // the endpoint frame follows; it is not needed
    zmq::message_t rest;
    if (!pair_.recv(rest, zmq::recv_flags::dontwait)) break;
    header = std::move(rest);
  }
  return event;
}

}  // namespace conveyor
