#include "conveyor/common/sockets.hpp"

#include <atomic>
#include <cstdint>
#include <future>
#include <thread>

#include "conveyor/common/codec.hpp"

namespace conveyor {
namespace {

void apply_common(zmq::socket_t& socket, const SocketOptions& options) {
  socket.set(zmq::sockopt::linger, options.linger_ms);
  socket.set(zmq::sockopt::maxmsgsize, static_cast<int64_t>(options.max_message_bytes));
  socket.set(zmq::sockopt::sndhwm, options.send_hwm);
  socket.set(zmq::sockopt::rcvhwm, options.receive_hwm);
  if (!options.zap_domain.empty()) socket.set(zmq::sockopt::zap_domain, options.zap_domain);
}

}  // namespace

zmq::message_t encode(wire::Envelope& envelope) {
  zmq::message_t message(prepare_encode(envelope));
  encode_into(envelope, message.data());
  return message;
}

zmq::socket_t make_router(zmq::context_t& context, const SocketOptions& options) {
  zmq::socket_t socket(context, zmq::socket_type::router);
  apply_common(socket, options);
  socket.set(zmq::sockopt::router_mandatory, 1);
  if (options.curve) {
    socket.set(zmq::sockopt::curve_server, true);
    socket.set(zmq::sockopt::curve_secretkey, options.curve->secret_key);
  }
  return socket;
}

zmq::socket_t make_dealer(zmq::context_t& context, const SocketOptions& options) {
  zmq::socket_t socket(context, zmq::socket_type::dealer);
  apply_common(socket, options);
  socket.set(zmq::sockopt::reconnect_ivl, 100);
  socket.set(zmq::sockopt::reconnect_ivl_max, 5000);
  if (options.curve) {
    socket.set(zmq::sockopt::curve_serverkey, options.curve->server_key);
    socket.set(zmq::sockopt::curve_publickey, options.curve->public_key);
    socket.set(zmq::sockopt::curve_secretkey, options.curve->secret_key);
  }
  return socket;
}

std::string last_endpoint(zmq::socket_t& socket) {
  return socket.get(zmq::sockopt::last_endpoint);
}

std::string unique_inproc_endpoint(const std::string& prefix) {
  static std::atomic<std::uint64_t> counter{0};
  return "inproc://" + prefix + "-" + std::to_string(counter.fetch_add(1) + 1);
}

bool close_context_within(zmq::context_t& context, std::chrono::milliseconds limit) {
  std::packaged_task<void()> close([&context] { context.close(); });
  auto closed = close.get_future();
  std::thread closer(std::move(close));
  if (closed.wait_for(limit) == std::future_status::ready) {
    closer.join();
    return true;
  }
  closer.detach();  // the process ends before it returns
  return false;
}

}  // namespace conveyor
