// ZeroMQ socket setup in one place. libzmq's defaults are wrong for us on purpose-by-purpose
// grounds: infinite linger hangs shutdown, a ROUTER silently drops what it cannot route, and an
// unbounded message size lets one peer exhaust our memory.
#pragma once

#include <chrono>
#include <cstring>
#include <memory>
#include <optional>
#include <string>

#include <zmq.hpp>

#include "conveyor/proto/conveyor.pb.h"

namespace conveyor {

struct SocketOptions {
  int linger_ms = 1000;              // how long close() may spend delivering what is queued
  long long max_message_bytes = -1;  // libzmq drops the connection above this; -1 for no limit
  int send_hwm = 10000;              // messages (batches), sized well above any credit window
  int receive_hwm = 10000;
  // CurveZMQ, set before bind/connect (libzmq reads them when a connection starts). A server
  // needs only `secret_key`; a client needs all three. Z85 text.
  struct Curve {
    std::string public_key;
    std::string secret_key;
    std::string server_key;
  };
  std::optional<Curve> curve;
  std::string zap_domain;  // servers: tells the ZAP handler which socket a peer knocks on
};

// Serializes `envelope` into a new ZeroMQ message, stamping the protocol version.
zmq::message_t encode(wire::Envelope& envelope);

// A ROUTER that reports unroutable sends (ZMQ_ROUTER_MANDATORY) instead of dropping them.
zmq::socket_t make_router(zmq::context_t& context, const SocketOptions& options);

// A DEALER for a producer or consumer, with bounded reconnect backoff.
zmq::socket_t make_dealer(zmq::context_t& context, const SocketOptions& options);

// The endpoint a socket actually bound (resolves "tcp://*:0" style wildcards).
std::string last_endpoint(zmq::socket_t& socket);

// A new "inproc://<prefix>-<n>" name on every call. Never derive one from an object's address:
// libzmq releases an inproc name on its reaper thread after close(), so an object built where the
// last one stood would find the name still bound (EADDRINUSE).
std::string unique_inproc_endpoint(const std::string& prefix);

// Terminates `context` (zmq_ctx_term, which waits for each closed socket's linger) within `limit`.
// False when it did not: libzmq's I/O thread can be stuck for tens of seconds in a DNS lookup for
// a reconnect to a host that is gone (a removed broker container). The caller must then end the
// process (std::_Exit) without touching the context again.
bool close_context_within(zmq::context_t& context, std::chrono::milliseconds limit);

// Ownership of a heap object passed between threads over an inproc socket: the pointer travels in
// a frame, the receiver adopts it. Nothing is shared; the object has one owner at a time.
template <class T>
void send_owned(zmq::socket_t& socket, std::unique_ptr<T> object) {
  T* raw = object.get();
  zmq::message_t frame(&raw, sizeof raw);
  socket.send(frame, zmq::send_flags::none);
  object.release();  // the receiver owns it now
}

template <class T>
std::unique_ptr<T> receive_owned(zmq::socket_t& socket,
                                 zmq::recv_flags flags = zmq::recv_flags::none) {
  zmq::message_t frame;
  if (!socket.recv(frame, flags) || frame.size() != sizeof(T*)) return nullptr;
  T* raw = nullptr;
  std::memcpy(&raw, frame.data(), sizeof raw);
  return std::unique_ptr<T>(raw);
}

}  // namespace conveyor
