// Writes the seed corpus for broker_core_fuzz: realistic sessions (producers and consumers saying
// hello, tasks, results, pills, heartbeats, stops) so the fuzzer starts from deep states.
//   make_seeds DIR
#include <fstream>
#include <iostream>

#include "conveyor/common/codec.hpp"
#include "fuzz/fuzz_ops.hpp"

using namespace conveyor;
using broker::Side;

namespace {

std::string bytes(wire::Envelope envelope) {
  envelope.set_version(kProtocolVersion);
  return envelope.SerializeAsString();
}

std::string hello(wire::Role role, const std::string& id, std::uint32_t capacity = 0) {
  wire::Envelope e;
  e.mutable_hello()->set_role(role);
  e.mutable_hello()->set_id(id);
  e.mutable_hello()->set_capacity(capacity);
  return bytes(e);
}

std::string tasks(std::uint64_t first, std::uint64_t count) {
  wire::Envelope e;
  for (std::uint64_t s = first; s < first + count; ++s) {
    auto* t = e.mutable_tasks()->add_tasks();
    t->set_seq(s);
    t->set_payload("payload-" + std::to_string(s));
  }
  return bytes(e);
}

std::string pill(std::uint64_t total) {
  wire::Envelope e;
  e.mutable_pill()->set_tasks(total);
  return bytes(e);
}

std::string goodbye() {
  wire::Envelope e;
  e.mutable_goodbye()->set_reason("done");
  return bytes(e);
}

void write(const std::string& dir, const std::string& name, const std::string& data) {
  std::ofstream(dir + "/" + name, std::ios::binary) << data;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::cerr << "usage: make_seeds DIR\n";
    return 2;
  }
  const std::string dir = argv[1];
  using fuzz::frame_op;
  using fuzz::simple_op;
  using fuzz::tick_op;
  const std::string start = frame_op(Side::frontend, 1, hello(wire::PRODUCER, "p1")) +
                            frame_op(Side::backend, 2, hello(wire::CONSUMER, "c1", 4)) +
                            simple_op(4);
  write(dir, "normal-run",
        start + frame_op(Side::frontend, 1, tasks(0, 10)) + simple_op(7) + simple_op(8) +
            simple_op(7) + simple_op(8) + frame_op(Side::frontend, 1, pill(10)) + simple_op(7, 1) +
            simple_op(8) + frame_op(Side::frontend, 1, goodbye()));
  write(dir, "consumer-dies",
        start + frame_op(Side::frontend, 1, tasks(0, 6)) + tick_op(50) +
            frame_op(Side::backend, 3, hello(wire::CONSUMER, "c2", 2)) + simple_op(7) +
            simple_op(8) + tick_op(50) + simple_op(7) + simple_op(8));
  write(dir, "stop",
        start + frame_op(Side::frontend, 1, tasks(0, 5)) + simple_op(5) +
            frame_op(Side::frontend, 1, tasks(5, 5)) + simple_op(7) + simple_op(8));
  write(dir, "undeliverable",
        start + frame_op(Side::frontend, 1, tasks(0, 4)) + simple_op(6) + simple_op(6, 1) +
            simple_op(7) + simple_op(8));
  write(dir, "garbage",
        frame_op(Side::frontend, 0, "\x08\x01\x12") +
            frame_op(Side::backend, 0, std::string(5000, 'x')) + simple_op(2, 3) + start);
  std::cout << "seeds written to " << dir << "\n";
  return 0;
}
