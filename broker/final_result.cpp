// FinalResult: a final result kept for its producer until acknowledged (core_sessions.hpp).
#include "conveyor/broker/core_sessions.hpp"

namespace conveyor::broker {

void FinalResult::take(const Outcome& outcome) {
  status = outcome.status;
  sent = false;
  output.assign(outcome.output);
  error.assign(outcome.error);
  consumer.assign(outcome.consumer);
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
