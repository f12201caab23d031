#include "fuzz/fuzz_ops.hpp"

#include <cstdio>
#include <cstdlib>
#include <string_view>

#include "conveyor/common/codec.hpp"
#include "conveyor/common/logging.hpp"
#include "conveyor/common/sockets.hpp"

namespace conveyor::fuzz {
namespace {

using broker::Core;
using broker::Outgoing;
using broker::Side;

class Reader {
 public:
  Reader(const std::uint8_t* data, std::size_t size) : data_(data), size_(size) {}
  bool done() const { return pos_ >= size_; }
  std::uint8_t byte() { return pos_ < size_ ? data_[pos_++] : 0; }
  std::string_view bytes() {
    const std::size_t want = byte() | (static_cast<std::size_t>(byte()) << 8);
    const std::size_t n = std::min(want, size_ - std::min(pos_, size_));
    std::string_view out(reinterpret_cast<const char*>(data_) + pos_, n);
    pos_ += n;
    return out;
  }

 private:
  const std::uint8_t* data_;
  std::size_t size_;
  std::size_t pos_ = 0;
};

void check(bool ok, const char* what) {
  if (!ok) {
    std::fprintf(stderr, "broker::Core invariant broken: %s\n", what);
    std::abort();
  }
}

std::string route_name(std::uint8_t r) {
  return std::string("r") + static_cast<char>('0' + r % 6);
}

// What a correct consumer would send back for the task batches in the outbox.
void answer_tasks(Core& core, const std::vector<Outgoing>& sent, std::uint8_t how, TimePoint now) {
  for (const Outgoing& out : sent) {
    if (out.side != Side::backend || !out.envelope.has_tasks()) continue;
    wire::Envelope reply;
    reply.set_version(kProtocolVersion);
    for (const auto& task : out.envelope.tasks().tasks()) {
      auto* result = reply.mutable_results()->add_results();
      result->set_producer(task.producer());
      result->set_seq(task.seq());
      result->set_attempts(task.attempt());  // the delivery it answers, as a consumer does
      result->set_status((how + task.seq()) % 3 == 0 ? wire::FAILED : wire::OK);
    }
    if ((how & 4) != 0) {  // as bytes, the shell's way (the in-place reader), or as a message
      const std::string frame = reply.SerializeAsString();
      const std::string_view view = frame;
      core.on_frames(Side::backend, out.route, {&view, 1}, "fuzz", now);
    } else {
      core.on_envelope(Side::backend, out.route, reply, "fuzz", now);
    }
  }
}

void acknowledge_results(Core& core, const std::vector<Outgoing>& sent, TimePoint now) {
  for (const Outgoing& out : sent) {
    if (out.side != Side::frontend || !out.envelope.has_results()) continue;
    wire::Envelope ack;
    ack.set_version(kProtocolVersion);
    for (const auto& result : out.envelope.results().results()) {
      ack.mutable_ack()->add_seqs(result.seq());
    }
    core.on_envelope(Side::frontend, out.route, ack, "fuzz", now);
  }
}

void check_invariants(Core& core) {
  check(core.queue_depth() <= core.tasks_held(), "more queued than held");
  check(core.in_flight() <= core.tasks_held(), "more in flight than held");
  for (const Outgoing& out : core.outbox()) {
    check(out.batch || out.envelope.body_case() != wire::Envelope::BODY_NOT_SET,
          "an envelope without body");
    check(!out.route.empty(), "a message without a route");
  }
  if (core.drained()) check(core.tasks_held() == 0, "drained while holding tasks");
}

}  // namespace

void run_ops(const std::uint8_t* data, std::size_t size) {
  // Logging would dominate the run time; CONVEYOR_FUZZ_LOG=debug shows what an input does.
  static const bool logging_set = [] {
    const char* level = std::getenv("CONVEYOR_FUZZ_LOG");
    setup_logging(level != nullptr ? level : "off");
    return true;
  }();
  (void)logging_set;
  broker::Config config;
  config.queue_capacity = 16;
  config.max_message_bytes = 4096;
  config.max_payload_bytes = 1024;
  config.max_batch_tasks = 64;
  config.max_peers = 8;
  config.heartbeat = milliseconds(100);
  config.max_attempts = 2;
  config.retry_failed = (size % 2) == 1;
  TimePoint now{};
  Core core(config, now);
  std::vector<Outgoing> sent;  // the last flush's messages, for ops 6, 7 and 8
  Reader in(data, size);
  while (!in.done()) {
    const std::uint8_t op = in.byte() % 9;
    const std::uint8_t arg = in.byte();
    switch (op) {
      case 0:
      case 1: {
        const std::string_view frame = in.bytes();
        core.on_frames(op == 0 ? Side::frontend : Side::backend, route_name(arg), {&frame, 1},
                       "fuzz", now);
        break;
      }
      case 2: {
        std::vector<std::string_view> frames(arg % 4);
        for (auto& f : frames)
          f = in.bytes();
        core.on_frames(arg & 0x80 ? Side::frontend : Side::backend, route_name(arg), frames, "fuzz",
                       now);
        break;
      }
      case 3:
        now += milliseconds(10) * arg;
        core.on_tick(now);
        break;
      case 4:
        break;  // every op ends with a flush below
      case 5:
        core.begin_stop(now);
        break;
      case 6:
        if (!sent.empty()) core.on_undeliverable(sent[arg % sent.size()], now);
        break;
      case 7:
        answer_tasks(core, sent, arg, now);
        break;
      case 8:
        acknowledge_results(core, sent, now);
        break;
    }
    core.flush(now);
    check_invariants(core);
    sent = std::move(core.outbox());
    core.outbox().clear();
    for (auto& out : sent) {
      if (out.batch) {  // an encoded batch must parse, as its peer will read it
        check(!decode(out.batch->frame(), std::size_t{1} << 30, out.envelope),
              "an encoded batch that does not parse");
      } else {
        (void)encode(out.envelope);  // every message must serialize
      }
    }
  }
}

std::string frame_op(broker::Side side, std::uint8_t route, const std::string& bytes) {
  std::string op;
  op.push_back(side == broker::Side::frontend ? 0 : 1);
  op.push_back(static_cast<char>(route));
  op.push_back(static_cast<char>(bytes.size() & 0xff));
  op.push_back(static_cast<char>((bytes.size() >> 8) & 0xff));
  return op + bytes;
}

std::string tick_op(std::uint8_t tens_of_ms) {
  return simple_op(3, tens_of_ms);
}

std::string simple_op(std::uint8_t op, std::uint8_t arg) {
  return std::string{static_cast<char>(op), static_cast<char>(arg)};
}

}  // namespace conveyor::fuzz
