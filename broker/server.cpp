#include "conveyor/broker/server.hpp"

#include <cerrno>
#include <csignal>
#include <cstdio>
#include <filesystem>
#include <fstream>

#include <unistd.h>

#include "conveyor/broker/admin.hpp"
#include "conveyor/broker/metrics.hpp"
#include "conveyor/common/curve.hpp"
#include "conveyor/common/logging.hpp"
#include "conveyor/status/json.hpp"

namespace conveyor::broker {
namespace {

constexpr std::size_t kReceiveBudget = 4096;  // messages per socket per round, for fairness

std::optional<SocketOptions::Curve> server_curve(const Config& config) {
  if (!config.curve) return std::nullopt;
  try {
    SocketOptions::Curve curve;
    curve.secret_key = read_key_file(config.curve_secret_key_file);
    curve.public_key = curve_public_key(curve.secret_key);
    return curve;
  } catch (const KeyError& e) {
    throw StartupError(std::string("--curve-secret-key-file ") + e.what());
  }
}

SocketOptions with_domain(SocketOptions options, const char* domain) {
  if (options.curve) options.zap_domain = domain;
  return options;
}

SocketOptions router_options(const Config& config) {
  SocketOptions options;
  options.linger_ms = 2000;  // long enough to deliver the final pills
  // libzmq drops a connection above this hard cap. The core applies --max-message-bytes itself,
  // below it, so a moderately oversized message still gets a logged, answered error.
  options.max_message_bytes = static_cast<long long>(config.max_message_bytes) * 2;
  options.send_hwm = 100000;
  options.receive_hwm = 100000;
  options.curve = server_curve(config);
  return options;
}

void bind_endpoint(zmq::socket_t& socket, const std::string& endpoint, const char* flag) {
  try {
    socket.bind(endpoint);
  } catch (const zmq::error_t& e) {
    std::string line = std::string("cannot bind ") + flag + " " + endpoint + ": " + e.what();
    // The usual cause is a second broker on this host with the default ports: say how to run it,
    // instead of letting it look like a broken install.
    if (e.num() == EADDRINUSE) {
      line +=
          " (another broker on this host? give this one its own --frontend, --backend and "
          "--admin ports)";
    }
    throw StartupError(line);
  }
}

std::string peer_address(zmq::message_t& frame) {
  try {
    const char* address = frame.gets("Peer-Address");
    return address ? address : "";
  } catch (const zmq::error_t&) {
    return "";  // not a TCP peer (inproc, ipc)
  }
}

}  // namespace

Server::Server(Config config)
    : config_(std::move(config)),
      socket_options_(router_options(config_)),
      signals_({SIGINT, SIGTERM, SIGHUP}),
      context_(1),
      frontend_(make_router(context_, with_domain(socket_options_, kFrontendDomain))),
      backend_(make_router(context_, with_domain(socket_options_, kBackendDomain))),
      core_(config_, Clock::now()),
      started_(Clock::now()) {
  if (config_.curve) start_admission();
  bind_endpoint(frontend_, config_.frontend, "--frontend");
  bind_endpoint(backend_, config_.backend, "--backend");
  if (!config_.admin.empty()) bind_admin();
  identity_.set_pid(::getpid());
  identity_.set_frontend(last_endpoint(frontend_));
  identity_.set_backend(last_endpoint(backend_));
  identity_.set_admin(config_.admin.empty() ? "" : last_endpoint(admin_));
  try {
    http_ = start_http_server(config_.metrics, logger("broker"));
  } catch (const metrics::ExporterError& e) {
    throw StartupError(e.what());
  }
  publish_http();
  logger("broker")->info(
      "listening: producers on {}, consumers on {}; queue capacity {}, heartbeat {} ms",
      last_endpoint(frontend_), last_endpoint(backend_), config_.queue_capacity,
      to_ms(config_.heartbeat));
  if (!config_.ready_file.empty()) write_ready_file();
}

void Server::bind_admin() {
  admin_ = zmq::socket_t(context_, zmq::socket_type::rep);
  admin_.set(zmq::sockopt::linger, 0);  // a reply nobody waits for is not worth waiting on
  admin_.set(zmq::sockopt::maxmsgsize, std::int64_t{64} * 1024);
  admin_.set(zmq::sockopt::sndtimeo, 0);
  bind_endpoint(admin_, config_.admin, "--admin");
  logger("broker")->info("admin endpoint on {}", last_endpoint(admin_));
}

// A status request at a time: REP pairs each reply with its request. Never throws.
void Server::answer_admin() {
  for (;;) {
    zmq::message_t request;
    try {
      if (!admin_.recv(request, zmq::recv_flags::dontwait)) return;
      while (request.more()) {
        zmq::message_t extra;  // a well-behaved client sends one frame; the rest is dropped
        (void)admin_.recv(extra, zmq::recv_flags::none);
        if (!extra.more()) break;
      }
      const std::string reply =
          answer_admin_request(request.to_string_view(), core_, Clock::now(), started_, &identity_);
      (void)admin_.send(zmq::buffer(reply), zmq::send_flags::dontwait);
    } catch (const std::exception& e) {
      logger("broker")->warn("admin request failed: {}", e.what());
      return;
    }
  }
}

// Once per tick, off the per-task path: the metrics, and the status page's status and history.
void Server::publish_http() {
  if (!http_) return;
  const TimePoint now = Clock::now();
  history_.on_tick(now, core_.completed());
  std::optional<CurveCounts> curve;
  if (zap_) {
    curve = CurveCounts{zap_->stats().admitted,
                        zap_->stats().refused,
                        zap_->admission().producers().size(),
                        zap_->admission().consumers().size(),
                        key_reloads_,
                        failed_key_reloads_};
  }
  http_->exporter().publish(broker_metrics(core_, now, curve));
  wire::StatusReply reply = status_reply(core_, now, started_);
  *reply.mutable_broker() = identity_;
  nlohmann::json json = status::status_json(reply);
  json["history"] = history_json(history_);
  // Replaced, not thrown: the tick must not die of a byte that is not UTF-8 (ids are checked).
  http_->page().publish(json.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace));
}

void Server::start_admission() {
  auto admission = Admission::load(config_.producer_keys, config_.consumer_keys);
  if (!admission) throw StartupError(admission.error());
  logger("broker")->info(
      "CURVE on: broker public key {}; {} producer keys, {} consumer keys admitted",
      socket_options_.curve->public_key, admission->producers().size(),
      admission->consumers().size());
  zap_.emplace(context_, std::move(*admission));
}

// SIGHUP: new handshakes see the new lists; a list that fails to load changes nothing.
void Server::reload_keys() {
  auto log = logger("broker");
  if (!zap_) {
    log->info("SIGHUP received: nothing to reload without --curve");
    return;
  }
  auto admission = Admission::load(config_.producer_keys, config_.consumer_keys);
  if (!admission) {
    log->error("SIGHUP: key lists not reloaded, keeping the old ones: {}", admission.error());
    ++failed_key_reloads_;
    return;
  }
  log->info("SIGHUP: key lists reloaded: {} producer keys, {} consumer keys",
            admission->producers().size(), admission->consumers().size());
  zap_->replace(std::move(*admission));
  ++key_reloads_;
}

void Server::write_ready_file() {
  const std::string tmp = config_.ready_file + ".tmp";
  {
    std::ofstream out(tmp);
    out << "{\"frontend\":\"" << identity_.frontend() << "\",\"backend\":\"" << identity_.backend()
        << "\",\"admin\":\"" << identity_.admin() << "\",\"pid\":" << identity_.pid() << "}\n";
    if (!out) throw StartupError("cannot write --ready-file " + config_.ready_file);
  }
  std::filesystem::rename(tmp, config_.ready_file);
}

int Server::run() {
  loop_.watch(frontend_, [this] { receive(frontend_, Side::frontend); });
  loop_.watch(backend_, [this] { receive(backend_, Side::backend); });
  loop_.watch(signals_.fd(), [this] { on_signal(); });
  if (!config_.admin.empty()) loop_.watch(admin_, [this] { answer_admin(); });
  if (zap_) loop_.watch(zap_->socket(), [this] { zap_->on_readable(); });
  loop_.every(tick_period(config_.heartbeat), [this] {
    core_.on_tick(Clock::now());
    publish_http();
  });
  loop_.after_each_round([this] {
    core_.flush(Clock::now());
    send_outbox();
    if (core_.finished()) loop_.stop();
  });
  loop_.run();
  publish_http();
  return exit_status_;
}

void Server::receive(zmq::socket_t& socket, Side side) {
  std::vector<zmq::message_t> parts;
  std::vector<std::string_view> frames;
  for (std::size_t n = 0; n < kReceiveBudget; ++n) {
    parts.clear();
    zmq::message_t part;
    if (!socket.recv(part, zmq::recv_flags::dontwait)) return;
    std::size_t count = 1;
    bool more = part.more();
    parts.push_back(std::move(part));
    while (more) {
      zmq::message_t next;
      (void)socket.recv(next, zmq::recv_flags::none);  // the rest of a message is already here
      more = next.more();
      ++count;
      if (parts.size() < 4) parts.push_back(std::move(next));  // a flood of frames is not kept
    }
    frames.clear();
    for (std::size_t i = 1; i < parts.size(); ++i)
      frames.push_back(parts[i].to_string_view());
    const std::string address = parts.size() > 1 ? peer_address(parts[1]) : "";
    core_.on_frames(side, parts[0].to_string_view(), frames, address, Clock::now());
  }
}

// A batch goes without a copy: its buffer comes back through lent_ once sent.
zmq::message_t Server::payload_of(Outgoing& out) {
  if (!out.batch) return encode(out.envelope);
  return lent_->lend(out.batch->release());
}

void Server::send_outbox() {
  sending_.clear();
  sending_.swap(core_.outbox());
  for (Outgoing& out : sending_) {
    zmq::socket_t& socket = out.side == Side::frontend ? frontend_ : backend_;
    bool delivered = false;
    try {
      zmq::message_t payload = payload_of(out);
      delivered =
          socket.send(zmq::buffer(out.route), zmq::send_flags::sndmore | zmq::send_flags::dontwait)
              .has_value() &&
          socket.send(payload, zmq::send_flags::dontwait).has_value();
    } catch (const zmq::error_t&) {
      delivered = false;  // EHOSTUNREACH: the peer is gone (ZMQ_ROUTER_MANDATORY)
    }
    if (!delivered && out.envelope.body_case() != wire::Envelope::kError) {
      core_.on_undeliverable(out, Clock::now());
    }
  }
  for (ByteBuffer& buffer : lent_->take_back())
    core_.recycle(BatchWriter(std::move(buffer)));
}

void Server::on_signal() {
  while (auto signo = signals_.read()) {
    if (*signo == SIGHUP) {
      reload_keys();
    } else if (core_.on_signal(*signo, Clock::now()) == SignalAction::stop_now) {
      exit_status_ = 128 + *signo;
      loop_.stop();
      return;
    }
  }
}

}  // namespace conveyor::broker
