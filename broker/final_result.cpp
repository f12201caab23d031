// FinalResult: a final result kept for its producer until acknowledged (core_sessions.hpp).
#include "conveyor/broker/core_sessions.hpp"

namespace conveyor::broker {
namespace {

// Buffers up to this size are kept for the next result; bigger outputs are allocated afresh (their
// copy costs more than the allocation anyway) so that a pool of results never hoards memory.
constexpr std::size_t kKeptBytes = 256;

void empty_keeping_small(std::string& text) {
  if (text.capacity() > kKeptBytes) {
    std::string().swap(text);
  } else {
    text.clear();
  }
}

// Swaps `ours` with the message's string. An empty field is only read: mutable_*() on a field that
// was never set would allocate a string for it.
template <class Get, class Mutable>
void swap_in(std::string& ours, Get get, Mutable mutable_field) {
  if (get().empty()) {
    ours.clear();
  } else {
    ours.swap(*mutable_field());
  }
}

}  // namespace

void FinalResult::take(wire::Result& result) {
  status = result.status();
  sent = false;
  swap_in(
      output, [&]() -> const std::string& { return result.output(); },
      [&] { return result.mutable_output(); });
  swap_in(
      error, [&]() -> const std::string& { return result.error(); },
      [&] { return result.mutable_error(); });
  consumer = result.consumer();
}

// A final result, as the producer gets it (wire::Result B->P, field by field).
void FinalResult::write_to(std::uint64_t seq, BatchWriter& batch) const {
  batch.add([&](auto& result) {
    result.varint(2, seq);
    result.varint(3, static_cast<std::uint64_t>(status));
    result.bytes(4, output);
    result.bytes(5, error);
    result.bytes(6, consumer);
    result.varint(7, attempts);
    result.bytes(12, id);
    result.bytes(13, parent);
    result.bytes(14, queue);
    result.varint(15, emitted);
  });
}

void FinalResult::reset() {
  status = wire::STATUS_UNSPECIFIED;
  attempts = 0;
  emitted = 0;
  sent = false;
  empty_keeping_small(output);
  empty_keeping_small(error);
  consumer.clear();
  id.clear();
  parent.clear();
  queue.clear();
}

}  // namespace conveyor::broker
