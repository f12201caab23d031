// broker::ZapHandler: the ZAP 1.0 (RFC 27) endpoint for --curve, a thin shell over Admission.
// libzmq asks "inproc://zeromq.zap.01" of the socket's context about every CURVE handshake; this
// REP socket answers from the broker's own event loop (no thread, so Admission needs no lock and a
// SIGHUP reload simply swaps it). A refusal is logged with the key and the peer's address, and
// counted. Connections already admitted are never touched: ZAP is asked only at the handshake.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

#include <zmq.hpp>

#include "conveyor/broker/admission.hpp"

namespace conveyor::broker {

struct AdmissionStats {
  std::uint64_t admitted = 0;
  std::uint64_t refused = 0;
  std::uint64_t malformed_requests = 0;  // not ZAP 1.0: answered 500, never crashes
};

class ZapHandler {
 public:
  // Binds the ZAP endpoint on `context`; do this before any CURVE socket binds.
  ZapHandler(zmq::context_t& context, Admission admission);

  zmq::socket_t& socket() { return socket_; }
  // Answers every request waiting on the socket.
  void on_readable();
  // Replaces the key lists (SIGHUP); new handshakes use them, admitted peers stay.
  void replace(Admission admission) { admission_ = std::move(admission); }

  const Admission& admission() const { return admission_; }
  const AdmissionStats& stats() const { return stats_; }

 private:
  void answer(std::vector<zmq::message_t>& request);
  void log_refusal(const std::string& domain, const std::string& key, const std::string& address,
                   const std::string& reason);

  zmq::socket_t socket_;
  Admission admission_;
  AdmissionStats stats_;
  std::chrono::steady_clock::time_point log_window_{};
  std::uint64_t logged_in_window_ = 0;
};

}  // namespace conveyor::broker
