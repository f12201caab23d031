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
#include <chrono>
#include <cstdio>
#include <cstring>
#include <string>

#include <CLI/CLI.hpp>
#include <zmq.hpp>

namespace {

struct Options {
  std::string bind;
  std::string connect;
  std::string in;
  std::string out;
  std::uint64_t tasks = 1'000'000;
  std::size_t size = 64;
  std::size_t per_message = 1;
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
  CLI11_PARSE(app, argc, argv);
  if (sink->parsed()) return run_sink(o);
  if (proxy->parsed()) return run_proxy(o);
  return run_source(o);
}
