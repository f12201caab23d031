// broker::Server: the socket shell around broker::Core. It binds the two ROUTER sockets, moves
// frames between them and the core, and turns signals and time into core calls. No decisions.
#pragma once

#include <memory>
#include <stdexcept>
#include <string>

#include <zmq.hpp>

#include "conveyor/broker/config.hpp"
#include "conveyor/broker/core.hpp"
#include "conveyor/broker/history.hpp"
#include "conveyor/broker/http_server.hpp"
#include "conveyor/broker/zap_handler.hpp"
#include "conveyor/common/errors.hpp"
#include "conveyor/common/event_loop.hpp"
#include "conveyor/common/lent_buffers.hpp"
#include "conveyor/common/signals.hpp"
#include "conveyor/common/sockets.hpp"

namespace conveyor::broker {

class Server {
 public:
  // Binds both sockets; throws StartupError.
  explicit Server(Config config);
  // Serves until drained (with --exit-when-drained) or stopped; returns the exit status.
  int run();

  const Core& core() const { return core_; }
  // With --curve: admissions and refusals so far.
  const AdmissionStats* admission_stats() const { return zap_ ? &zap_->stats() : nullptr; }

 private:
  void receive(zmq::socket_t& socket, Side side);
  void send_outbox();
  zmq::message_t payload_of(Outgoing& out);
  void on_signal();
  void start_admission();
  void reload_keys();
  void write_ready_file();
  void bind_admin();
  void answer_admin();
  void publish_http();

  Config config_;
  SocketOptions socket_options_;  // both ROUTERs; with --curve the secret key is read here
  SignalFd signals_;              // first: blocks signals before the context starts its threads
  zmq::context_t context_;
  std::optional<ZapHandler> zap_;  // with --curve; bound before the ROUTERs
  zmq::socket_t frontend_;
  zmq::socket_t backend_;
  zmq::socket_t admin_;               // REP for conveyor-ctl status; unbound when --admin is empty
  std::unique_ptr<HttpServer> http_;  // --metrics-port: /metrics and the status page
  CompletionHistory history_;         // the page's chart, sampled on the tick
  wire::BrokerInfo identity_;         // pid and bound endpoints, in every status
  EventLoop loop_;
  Core core_;
  TimePoint started_;
  int exit_status_ = 0;
  std::uint64_t key_reloads_ = 0;         // SIGHUPs that replaced the key lists
  std::uint64_t failed_key_reloads_ = 0;  // SIGHUPs whose lists did not load
  std::vector<Outgoing> sending_;
  std::shared_ptr<LentBuffers> lent_ = LentBuffers::make();  // sent batches, on their way back
};

}  // namespace conveyor::broker
