// conveyor-test-peer: a hostile or careless peer for the integrity tests (DESIGN.md §7.1), speaking
// the wire protocol directly, with no Conveyor session logic behind it.
//
//   conveyor-test-peer forge --broker BACKEND --producer p1 --tasks N [--for 3s]
//       says hello as a consumer, takes no task (capacity 0 right after the welcome) and sends
//       `ok` results with forged output for p1:0 .. p1:N-1, again every 100 ms, until --for ends
//   conveyor-test-peer ghost --broker FRONTEND --id ID
//       says hello as a producer, waits for the welcome, and leaves without a word
// Exits 0 when it did what it was told, 1 when the broker never answered.
#include <unistd.h>

#include <chrono>
#include <iostream>
#include <string>
#include <thread>

#include <CLI/CLI.hpp>
#include <zmq.hpp>

#include "conveyor/common/cli.hpp"
#include "conveyor/common/codec.hpp"
#include "conveyor/common/sockets.hpp"
#include "conveyor/common/task.hpp"

namespace {

using namespace conveyor;

struct Options {
  std::string broker;
  std::string producer = "p1";
  std::string id = "rogue";
  std::uint64_t tasks = 10;
  Duration duration = milliseconds(3000);
};

void send(zmq::socket_t& socket, wire::Envelope envelope) {
  zmq::message_t frame = encode(envelope);
  socket.send(frame, zmq::send_flags::none);
}

wire::Envelope hello(wire::Role role, const std::string& id) {
  wire::Envelope envelope;
  auto* h = envelope.mutable_hello();
  h->set_role(role);
  h->set_id(id);
  h->set_session(random_nonce());
  h->set_process(random_nonce());
  h->set_capacity(role == wire::CONSUMER ? 1 : 0);
  h->set_agent("conveyor-test-peer");
  return envelope;
}

// True once a Welcome arrived within 5 s.
bool welcomed(zmq::socket_t& socket) {
  const auto deadline = Clock::now() + milliseconds(5000);
  while (Clock::now() < deadline) {
    zmq::pollitem_t item{socket.handle(), 0, ZMQ_POLLIN, 0};
    zmq::poll(&item, 1, milliseconds(100));
    zmq::message_t frame;
    if (!(item.revents & ZMQ_POLLIN) || !socket.recv(frame, zmq::recv_flags::dontwait)) continue;
    wire::Envelope envelope;
    if (!decode(frame.to_string_view(), std::size_t{1} << 30, envelope) && envelope.has_welcome())
      return true;
  }
  return false;
}

wire::Envelope forged_results(const Options& options) {
  wire::Envelope envelope;
  for (std::uint64_t seq = 0; seq < options.tasks; ++seq) {
    auto* r = envelope.mutable_results()->add_results();
    r->set_producer(options.producer);
    r->set_seq(seq);
    r->set_status(wire::OK);
    r->set_attempts(1);
    r->set_output("forged by conveyor-test-peer");
  }
  return envelope;
}

int forge(zmq::socket_t& socket, const Options& options) {
  send(socket, hello(wire::CONSUMER, options.id));
  if (!welcomed(socket)) return 1;
  wire::Envelope hold_nothing;
  hold_nothing.mutable_credit()->set_capacity(0);
  send(socket, std::move(hold_nothing));
  const auto until = Clock::now() + options.duration;
  while (Clock::now() < until) {
    send(socket, forged_results(options));
    std::this_thread::sleep_for(std::chrono::milliseconds(100));  // a steady stream, by design
  }
  return 0;
}

int ghost(zmq::socket_t& socket, const Options& options) {
  send(socket, hello(wire::PRODUCER, options.id));
  return welcomed(socket) ? 0 : 1;
}

}  // namespace

int main(int argc, char** argv) {
  Options options;
  CLI::App app{"A hostile peer for Conveyor's integrity tests.", "conveyor-test-peer"};
  app.require_subcommand(1);
  auto* forge_command = app.add_subcommand("forge", "send results for tasks never given");
  auto* ghost_command = app.add_subcommand("ghost", "say hello as a producer, then vanish");
  for (auto* command : {forge_command, ghost_command}) {
    command->add_option("--broker", options.broker)->required();
    command->add_option("--id", options.id);
  }
  forge_command->add_option("--producer", options.producer);
  forge_command->add_option("--tasks", options.tasks);
  add_duration_option(*forge_command, "--for", options.duration, "how long to keep forging");
  if (auto status = parse_command_line(app, argc, argv)) return *status;
  zmq::context_t context(1);
  SocketOptions socket_options;
  socket_options.linger_ms = 0;
  zmq::socket_t socket = make_dealer(context, socket_options);
  socket.connect(options.broker);
  return forge_command->parsed() ? forge(socket, options) : ghost(socket, options);
}
