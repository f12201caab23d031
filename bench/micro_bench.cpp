// Micro-benchmarks (Google Benchmark) for the hot paths without sockets: the codec and one
// round of broker::Core dispatch (a batch of tasks in, results back, acknowledged).
//   build/bench/conveyor_micro_bench --benchmark_min_time=0.2
#include <benchmark/benchmark.h>

#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "conveyor/broker/core.hpp"
#include "conveyor/common/codec.hpp"
#include "conveyor/common/logging.hpp"
#include "conveyor/common/sockets.hpp"

namespace conveyor {
namespace {

wire::Envelope task_batch(std::uint64_t first, std::size_t count, std::size_t size) {
  wire::Envelope envelope;
  envelope.set_version(kProtocolVersion);
  auto* batch = envelope.mutable_tasks();
  for (std::size_t i = 0; i < count; ++i) {
    auto* task = batch->add_tasks();
    task->set_seq(first + i);
    task->set_payload(std::string(size, 'x'));
  }
  return envelope;
}

void BM_EncodeTaskBatch(benchmark::State& state) {
  auto envelope = task_batch(0, static_cast<std::size_t>(state.range(0)), 64);
  for (auto _ : state) {
    zmq::message_t frame = encode(envelope);
    benchmark::DoNotOptimize(frame.data());
  }
  state.SetItemsProcessed(state.iterations() * state.range(0));
}
BENCHMARK(BM_EncodeTaskBatch)->Arg(1)->Arg(100)->Arg(1000);

void BM_DecodeTaskBatch(benchmark::State& state) {
  auto envelope = task_batch(0, static_cast<std::size_t>(state.range(0)), 64);
  const zmq::message_t frame = encode(envelope);
  wire::Envelope decoded;
  for (auto _ : state) {
    decoded.Clear();
    auto error = decode(frame.to_string_view(), 1u << 30, decoded);
    benchmark::DoNotOptimize(error);
  }
  state.SetItemsProcessed(state.iterations() * state.range(0));
}
BENCHMARK(BM_DecodeTaskBatch)->Arg(1)->Arg(100)->Arg(1000);

wire::Envelope hello(wire::Role role, const std::string& id, std::uint32_t capacity) {
  wire::Envelope envelope;
  envelope.set_version(kProtocolVersion);
  envelope.mutable_hello()->set_role(role);
  envelope.mutable_hello()->set_id(id);
  envelope.mutable_hello()->set_capacity(capacity);
  return envelope;
}

// What the shell does with a message: bytes in through on_frames (decoding included).
void deliver(broker::Core& core, broker::Side side, const std::string& route,
             wire::Envelope& envelope, TimePoint now) {
  const zmq::message_t frame = encode(envelope);
  const std::string_view view = frame.to_string_view();
  core.on_frames(side, route, std::span<const std::string_view>(&view, 1), "bench", now);
}

// And with the outbox: each envelope encoded (as if sent; batches come encoded, and are read back
// as their peer would), looked at, then handed back.
template <class Visit>
void send_all(broker::Core& core, Visit visit) {
  std::vector<broker::Outgoing> out;
  out.swap(core.outbox());
  for (auto& message : out) {
    if (message.batch) {
      benchmark::DoNotOptimize(
          decode(message.batch->frame(), std::size_t{1} << 30, message.envelope));
    } else {
      benchmark::DoNotOptimize(encode(message.envelope));
    }
    visit(message);
    core.recycle(std::move(message));
  }
}

// Per task: received from a producer, dispatched to one of two consumers, its result routed
// back, acknowledged; every message encoded and decoded as over the wire. `state.range(0)` tasks
// per producer batch.
void BM_CoreDispatchRound(benchmark::State& state) {
  setup_logging("error");
  const auto batch_size = static_cast<std::size_t>(state.range(0));
  broker::Config config;
  config.queue_capacity = 100000;
  TimePoint now = Clock::now();
  broker::Core core(config, now);
  auto h = hello(wire::PRODUCER, "p1", 0);
  deliver(core, broker::Side::frontend, "rp", h, now);
  for (const char* c : {"c1", "c2"}) {
    auto hc = hello(wire::CONSUMER, c, 100000);
    deliver(core, broker::Side::backend, std::string("r") + c, hc, now);
  }
  core.flush(now);
  core.outbox().clear();
  std::uint64_t seq = 0;
  for (auto _ : state) {
    auto tasks = task_batch(seq, batch_size, 64);
    seq += batch_size;
    deliver(core, broker::Side::frontend, "rp", tasks, now);
    core.flush(now);
    std::vector<std::pair<std::string, wire::Envelope>> replies;
    send_all(core, [&](const broker::Outgoing& message) {
      if (!message.envelope.has_tasks()) return;
      wire::Envelope results;
      for (const auto& task : message.envelope.tasks().tasks()) {
        auto* r = results.mutable_results()->add_results();
        r->set_producer(task.producer());
        r->set_seq(task.seq());
        r->set_status(wire::OK);
        r->set_output(task.payload());
      }
      replies.emplace_back(message.route, std::move(results));
    });
    for (auto& [route, results] : replies)
      deliver(core, broker::Side::backend, route, results, now);
    core.flush(now);
    wire::Envelope ack;
    send_all(core, [&](const broker::Outgoing& message) {
      if (!message.envelope.has_results()) return;
      for (const auto& r : message.envelope.results().results())
        ack.mutable_ack()->add_seqs(r.seq());
    });
    deliver(core, broker::Side::frontend, "rp", ack, now);
    core.flush(now);
    send_all(core, [](const broker::Outgoing&) {});
  }
  std::uint64_t bad = 0;
  for (const auto n : core.stats().bad_input)
    bad += n;
  if (bad > 0 || core.stats().ok != seq) state.SkipWithError("the round did not complete cleanly");
  state.SetItemsProcessed(state.iterations() * state.range(0));
}
BENCHMARK(BM_CoreDispatchRound)->Arg(1)->Arg(100)->Arg(1000);

}  // namespace
}  // namespace conveyor

BENCHMARK_MAIN();
