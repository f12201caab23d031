// conveyor-bench-zmq: the raw ZeroMQ baseline for bench/run.sh. One forwarding hop, each role
// its own process, as a broker would sit between a producer and a consumer:
//
//   conveyor-bench-zmq sink   --bind tcp://127.0.0.1:PORT --tasks N
//   conveyor-bench-zmq proxy  --in tcp://127.0.0.1:A --out tcp://127.0.0.1:B
//   conveyor-bench-zmq source --connect tcp://127.0.0.1:A --tasks N --size S --per-message K
//
// The source sends N tasks of S bytes, K tasks per message (PUSH); the proxy receives and
// forwards each message unchanged (PULL -> PUSH, what zmq_proxy does); the sink counts tasks and
// prints one JSON line: {"tasks":N,"messages":M,"seconds":T,"tasks_per_s":R} measured from its
// first message to its last. Nothing is decoded: this is the cost of the hop alone.
//
// The round trip that conveyor-bench-latency is compared with, the same three processes with
// replies coming back (ROUTER -> DEALER relay, REP echoes):
//
//   conveyor-bench-zmq echo  --connect tcp://127.0.0.1:B          (one per consumer)
//   conveyor-bench-zmq relay --in tcp://127.0.0.1:A --out tcp://127.0.0.1:B
//   conveyor-bench-zmq ping  --connect tcp://127.0.0.1:A --rate R --tasks N --size S
//
// ping offers N messages at R per second, sleeping in poll (a timerfd), never spinning: a sender
// that spins on one of two cores would hide the wake-ups every real process pays. It prints the
// same JSON line as conveyor-bench-latency, each message timed from its due time to its echo.
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <string>
#include <system_error>
#include <type_traits>
#include <vector>

#include <sys/timerfd.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <zmq.hpp>

#include "latency_report.hpp"

namespace {

struct Options {
  std::string bind;
  std::string connect;
  std::string in;
  std::string out;
  std::uint64_t tasks = 1'000'000;
  std::size_t size = 64;
  std::size_t per_message = 1;
  double rate = 10000;
};

zmq::socket_t make(zmq::context_t& context, zmq::socket_type type) {
  zmq::socket_t socket(context, type);
  socket.set(zmq::sockopt::linger, 5000);  // the source's last messages must reach the sink
  socket.set(zmq::sockopt::sndhwm, 10000);
  socket.set(zmq::sockopt::rcvhwm, 10000);
  return socket;
}

int run_sink(const Options& o) {
  zmq::context_t context(1);
  auto pull = make(context, zmq::socket_type::pull);
  pull.bind(o.bind);
  std::uint64_t tasks = 0;
  std::uint64_t messages = 0;
  std::chrono::steady_clock::time_point first;
  while (tasks < o.tasks) {
    zmq::message_t message;
    if (!pull.recv(message)) continue;
    if (messages++ == 0) first = std::chrono::steady_clock::now();
    std::uint32_t count = 1;
    if (message.size() >= sizeof count) std::memcpy(&count, message.data(), sizeof count);
    tasks += count;
  }
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - first).count();
  std::printf("{\"tasks\":%llu,\"messages\":%llu,\"seconds\":%.6f,\"tasks_per_s\":%.0f}\n",
              static_cast<unsigned long long>(tasks), static_cast<unsigned long long>(messages),
              seconds, static_cast<double>(tasks) / seconds);
  return 0;
}

int run_proxy(const Options& o) {
  zmq::context_t context(1);
  auto pull = make(context, zmq::socket_type::pull);
  auto push = make(context, zmq::socket_type::push);
  pull.bind(o.in);
  push.connect(o.out);
  for (;;) {  // ends with a kill from the harness, as a broker would run
    zmq::message_t message;
    if (!pull.recv(message)) continue;
    push.send(message, zmq::send_flags::none);
  }
}

int run_source(const Options& o) {
  zmq::context_t context(1);
  auto push = make(context, zmq::socket_type::push);
  push.connect(o.connect);
  // Each message: a 4-byte task count, then the tasks' payloads back to back.
  std::string payload(o.size * o.per_message + 4, 'x');
  for (std::uint64_t sent = 0; sent < o.tasks;) {
    const auto count =
        static_cast<std::uint32_t>(std::min<std::uint64_t>(o.per_message, o.tasks - sent));
    std::memcpy(payload.data(), &count, sizeof count);
    push.send(zmq::buffer(payload.data(), o.size * count + 4), zmq::send_flags::none);
    sent += count;
  }
  return 0;
}

int run_relay(const Options& o) {
  zmq::context_t context(1);
  auto router = make(context, zmq::socket_type::router);
  auto dealer = make(context, zmq::socket_type::dealer);
  router.bind(o.in);
  dealer.bind(o.out);
  zmq::proxy(router, dealer);  // ends with a kill from the harness
  return 0;
}

int run_echo(const Options& o) {
  zmq::context_t context(1);
  auto rep = make(context, zmq::socket_type::rep);
  rep.connect(o.connect);
  for (;;) {
    zmq::message_t message;
    if (rep.recv(message)) rep.send(message, zmq::send_flags::none);
  }
}

using Clock = std::chrono::steady_clock;
static_assert(std::is_same_v<Clock::period, std::nano>, "DueTimer::arm() reads nanoseconds");

// Wakes a poll at an absolute steady_clock time (CLOCK_MONOTONIC, as libstdc++'s steady_clock).
class DueTimer {
 public:
  DueTimer() : fd_(timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK)) {
    if (fd_ < 0) throw std::system_error(errno, std::generic_category(), "timerfd_create");
  }
  ~DueTimer() { ::close(fd_); }
  DueTimer(const DueTimer&) = delete;
  DueTimer& operator=(const DueTimer&) = delete;
  int fd() const { return fd_; }
  void arm(Clock::time_point due) {
    const auto ns = due.time_since_epoch().count();
    itimerspec spec{};
    spec.it_value.tv_sec = ns / 1'000'000'000;
    spec.it_value.tv_nsec = ns % 1'000'000'000;
    std::uint64_t expirations = 0;
    (void)!::read(fd_, &expirations, sizeof expirations);  // clear a past expiry
    if (timerfd_settime(fd_, TFD_TIMER_ABSTIME, &spec, nullptr) != 0)
      throw std::system_error(errno, std::generic_category(), "timerfd_settime");
  }

 private:
  int fd_;
};

// Each message: an empty delimiter (what REP expects), then the due time in ns and padding.
void send_ping(zmq::socket_t& dealer, std::string& payload, Clock::time_point due) {
  const std::int64_t ns = due.time_since_epoch().count();
  std::memcpy(payload.data(), &ns, sizeof ns);
  dealer.send(zmq::message_t(), zmq::send_flags::sndmore);
  dealer.send(zmq::buffer(payload), zmq::send_flags::none);
}

void take_echoes(zmq::socket_t& dealer, std::vector<double>& latencies_us) {
  zmq::message_t delimiter;
  zmq::message_t echo;
  while (dealer.recv(delimiter, zmq::recv_flags::dontwait)) {
    if (!dealer.recv(echo) || echo.size() < sizeof(std::int64_t)) continue;
    std::int64_t due = 0;
    std::memcpy(&due, echo.data(), sizeof due);
    const auto now = Clock::now().time_since_epoch().count();
    latencies_us.push_back(static_cast<double>(now - due) / 1000.0);
  }
}

// One message there and back before the clock starts: the connection is up, as a producer's is
// by the time its first result comes back.
bool warm_up(zmq::socket_t& dealer, std::string& payload) {
  send_ping(dealer, payload, Clock::now());
  zmq::pollitem_t items[] = {{dealer.handle(), 0, ZMQ_POLLIN, 0}};
  if (zmq::poll(items, 1, std::chrono::seconds(10)) == 0) {
    std::fprintf(stderr, "ping: no echo within 10 s\n");
    return false;
  }
  std::vector<double> ignored;
  take_echoes(dealer, ignored);
  return true;
}

int run_ping(const Options& o) {
  zmq::context_t context(1);
  auto dealer = make(context, zmq::socket_type::dealer);
  dealer.connect(o.connect);
  std::string payload(std::max<std::size_t>(o.size, sizeof(std::int64_t)), 'x');
  std::vector<double> latencies_us;
  latencies_us.reserve(o.tasks);
  if (!warm_up(dealer, payload)) return 1;
  DueTimer timer;
  const auto start = Clock::now();
  const auto due = [&](std::uint64_t i) {
    return start + std::chrono::duration_cast<Clock::duration>(
                       std::chrono::duration<double>(static_cast<double>(i) / o.rate));
  };
  const auto deadline = due(o.tasks) + std::chrono::seconds(10);  // replies lost: stop anyway
  std::uint64_t sent = 0;
  while (latencies_us.size() < o.tasks && Clock::now() < deadline) {
    for (const auto now = Clock::now(); sent < o.tasks && due(sent) <= now; ++sent)
      send_ping(dealer, payload, due(sent));
    timer.arm(sent < o.tasks ? due(sent) : deadline);
    zmq::pollitem_t items[] = {{dealer.handle(), 0, ZMQ_POLLIN, 0},
                               {nullptr, timer.fd(), ZMQ_POLLIN, 0}};
    zmq::poll(items, 2, std::chrono::milliseconds(-1));
    take_echoes(dealer, latencies_us);
  }
  conveyor::bench::print_latency(o.rate, latencies_us);
  return latencies_us.size() == o.tasks ? 0 : 1;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"conveyor-bench-zmq: a raw ZeroMQ forwarding hop, the baseline of bench/run.sh"};
  Options o;
  app.require_subcommand(1);
  auto* sink = app.add_subcommand("sink", "count tasks and print the rate as JSON");
  sink->add_option("--bind", o.bind)->required();
  sink->add_option("--tasks", o.tasks);
  auto* proxy = app.add_subcommand("proxy", "forward every message from --in to --out");
  proxy->add_option("--in", o.in)->required();
  proxy->add_option("--out", o.out)->required();
  auto* source = app.add_subcommand("source", "send --tasks tasks, --per-message per message");
  source->add_option("--connect", o.connect)->required();
  source->add_option("--tasks", o.tasks);
  source->add_option("--size", o.size);
  source->add_option("--per-message", o.per_message)->check(CLI::Range(1, 100000));
  auto* relay = app.add_subcommand("relay", "relay requests from --in (ROUTER) to --out (DEALER)");
  relay->add_option("--in", o.in)->required();
  relay->add_option("--out", o.out)->required();
  auto* echo = app.add_subcommand("echo", "send every message back (REP)");
  echo->add_option("--connect", o.connect)->required();
  auto* ping = app.add_subcommand("ping", "offer --rate messages/s, print round-trip latency");
  ping->add_option("--connect", o.connect)->required();
  ping->add_option("--rate", o.rate)->check(CLI::Range(1.0, 1e8));
  ping->add_option("--tasks", o.tasks);
  ping->add_option("--size", o.size, "bytes (at least 8)");
  CLI11_PARSE(app, argc, argv);
  if (sink->parsed()) return run_sink(o);
  if (proxy->parsed()) return run_proxy(o);
  if (relay->parsed()) return run_relay(o);
  if (echo->parsed()) return run_echo(o);
  if (ping->parsed()) return run_ping(o);
  return run_source(o);
}
