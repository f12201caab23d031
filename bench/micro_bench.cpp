// Micro-benchmarks (Google Benchmark) for the hot paths without sockets: the codec and one
// round of broker::Core dispatch (a batch of tasks in, results back, acknowledged).
//   build/bench/conveyor_micro_bench --benchmark_min_time=0.2
#include <benchmark/benchmark.h>

#include <string>
#include <vector>

#include "broker/core.hpp"
#include "common/codec.hpp"
#include "common/logging.hpp"

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

// Per task: received from a producer, dispatched to one of two consumers, its result routed
// back, acknowledged. `state.range(0)` tasks per batch.
void BM_CoreDispatchRound(benchmark::State& state) {
  setup_logging("error");
  const auto batch_size = static_cast<std::size_t>(state.range(0));
  broker::Config config;
  config.queue_capacity = 100000;
  TimePoint now = Clock::now();
  broker::Core core(config, now);
  auto h = hello(wire::PRODUCER, "p1", 0);
  core.on_envelope(broker::Side::frontend, "rp", h, "bench", now);
  for (const char* c : {"c1", "c2"}) {
    auto hc = hello(wire::CONSUMER, c, 100000);
    core.on_envelope(broker::Side::backend, std::string("r") + c, hc, "bench", now);
  }
  core.flush(now);
  core.outbox().clear();
  std::uint64_t seq = 0;
  for (auto _ : state) {
    auto tasks = task_batch(seq, batch_size, 64);
    seq += batch_size;
    core.on_envelope(broker::Side::frontend, "rp", tasks, "bench", now);
    core.flush(now);
    std::vector<broker::Outgoing> out;
    out.swap(core.outbox());
    for (auto& message : out) {
      if (!message.envelope.has_tasks()) continue;
      wire::Envelope results;
      results.set_version(kProtocolVersion);
      for (const auto& task : message.envelope.tasks().tasks()) {
        auto* r = results.mutable_results()->add_results();
        r->set_producer(task.producer());
        r->set_seq(task.seq());
        r->set_status(wire::OK);
        r->set_output(task.payload());
      }
      core.on_envelope(broker::Side::backend, message.route, results, "bench", now);
    }
    core.flush(now);
    wire::Envelope ack;
    ack.set_version(kProtocolVersion);
    for (auto& message : core.outbox()) {
      if (!message.envelope.has_results()) continue;
      for (const auto& r : message.envelope.results().results())
        ack.mutable_ack()->add_seqs(r.seq());
    }
    core.outbox().clear();
    core.on_envelope(broker::Side::frontend, "rp", ack, "bench", now);
    core.flush(now);
    core.outbox().clear();
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
