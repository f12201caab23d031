// FinalResult: a final result kept for its producer until acknowledged (core_sessions.hpp).
#include "conveyor/broker/core_sessions.hpp"

namespace conveyor::broker {
namespace {

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
  using R = wire::Result;
  batch.add([&](auto& result) {  // in field-number order
    result.varint(R::kSeqFieldNumber, seq);
    result.varint(R::kStatusFieldNumber, static_cast<std::uint64_t>(status));
    result.bytes(R::kOutputFieldNumber, output);
    result.bytes(R::kErrorFieldNumber, error);
    result.bytes(R::kConsumerFieldNumber, consumer);
    result.varint(R::kAttemptsFieldNumber, attempts);
    result.bytes(R::kIdFieldNumber, id);
    result.bytes(R::kParentFieldNumber, parent);
    result.bytes(R::kQueueFieldNumber, queue);
    result.varint(R::kEmittedFieldNumber, emitted);
  });
}

void FinalResult::reset() {
  status = wire::STATUS_UNSPECIFIED;
  attempts = 0;
  emitted = 0;
  sent = false;
  empty_keeping_small_buffer(output);
  empty_keeping_small_buffer(error);
  consumer.clear();
  id.clear();
  parent.clear();
  queue.clear();
}

}  // namespace conveyor::broker
