#include "conveyor/broker/zap_handler.hpp"

#include "conveyor/common/curve.hpp"
#include "conveyor/common/logging.hpp"

namespace conveyor::broker {
namespace {

constexpr std::size_t kMaxRequestFrames = 16;        // ZAP 1.0 CURVE requests have 7
constexpr std::uint64_t kRefusalLogsPerSecond = 20;  // a reconnecting intruder must not flood logs

// RFC 27 request: version, request id, domain, address, identity, mechanism, credentials...
enum Frame : std::size_t { version, request_id, domain, address, identity, mechanism, credentials };

void send_reply(zmq::socket_t& socket, const std::string& request_id, const char* status,
                const std::string& text, const std::string& user_id) {
  const std::string frames[] = {"1.0", request_id, status, text, user_id, ""};
  for (std::size_t i = 0; i < 6; ++i) {
    socket.send(zmq::buffer(frames[i]),
                i + 1 < 6 ? zmq::send_flags::sndmore : zmq::send_flags::none);
  }
}

const char* side_name(const std::string& domain) {
  if (domain == kFrontendDomain) return "producer";
  if (domain == kBackendDomain) return "consumer";
  return "unknown";
}

}  // namespace

ZapHandler::ZapHandler(zmq::context_t& context, Admission admission)
    : socket_(context, zmq::socket_type::rep), admission_(std::move(admission)) {
  socket_.set(zmq::sockopt::linger, 0);
  socket_.bind("inproc://zeromq.zap.01");
}

void ZapHandler::on_readable() {
  std::vector<zmq::message_t> request;
  while (true) {
    request.clear();
    zmq::message_t part;
    if (!socket_.recv(part, zmq::recv_flags::dontwait)) return;
    bool more = part.more();
    request.push_back(std::move(part));
    while (more) {
      zmq::message_t next;
      (void)socket_.recv(next, zmq::recv_flags::none);  // the rest of a message is already here
      more = next.more();
      if (request.size() < kMaxRequestFrames) request.push_back(std::move(next));
    }
    answer(request);
  }
}

void ZapHandler::answer(std::vector<zmq::message_t>& request) {
  // A REP socket must answer every request, even one that is not ZAP 1.0.
  if (request.size() < credentials || request[version].to_string_view() != "1.0") {
    ++stats_.malformed_requests;
    logger("broker")->error("malformed ZAP request ({} frames); refusing", request.size());
    send_reply(socket_, request.size() > request_id ? request[request_id].to_string() : "", "500",
               "malformed ZAP request", "");
    return;
  }
  const std::string zap_domain = request[domain].to_string();
  const std::string peer = request[address].to_string();
  const std::string mech = request[mechanism].to_string();
  const std::string key = mech == "CURVE" && request.size() > credentials
                              ? z85_encode_key(request[credentials].to_string_view())
                              : std::string{};
  const Decision decision = admission_.decide(zap_domain, mech, key);
  if (decision.allowed) {
    ++stats_.admitted;
    logger("broker")->debug("admitted {} key {} from {}", side_name(zap_domain), key, peer);
    send_reply(socket_, request[request_id].to_string(), "200", "OK", key);
    return;
  }
  ++stats_.refused;
  log_refusal(zap_domain, key, peer, decision.reason);
  send_reply(socket_, request[request_id].to_string(), "400", decision.reason, "");
}

void ZapHandler::log_refusal(const std::string& zap_domain, const std::string& key,
                             const std::string& peer, const std::string& reason) {
  const auto now = std::chrono::steady_clock::now();
  if (now - log_window_ >= std::chrono::seconds(1)) {
    log_window_ = now;
    logged_in_window_ = 0;
  }
  if (++logged_in_window_ > kRefusalLogsPerSecond) return;  // still counted in stats_
  logger("broker")->warn("refused CURVE key {} from {} on the {} socket: {} ({} refused so far)",
                         key.empty() ? "(none)" : key, peer, side_name(zap_domain), reason,
                         stats_.refused);
}

}  // namespace conveyor::broker
