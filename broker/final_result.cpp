// FinalResult: a final result kept for its producer until acknowledged (core_sessions.hpp).
#include "conveyor/broker/core_sessions.hpp"

namespace conveyor::broker {

// A final result, as the producer gets it (wire::Result B->P, field by field).
void FinalResult::write(std::uint64_t seq, const Outcome& outcome, const TaskFacts& facts) {
  using R = wire::Result;
  sent = false;
  size_ = encode_fields(buffer_, [&](auto& result) {  // in field-number order
    result.varint(R::kSeqFieldNumber, seq);
    result.varint(R::kStatusFieldNumber, static_cast<std::uint64_t>(outcome.status));
    result.bytes(R::kOutputFieldNumber, outcome.output);
    result.bytes(R::kErrorFieldNumber, outcome.error);
    result.bytes(R::kConsumerFieldNumber, outcome.consumer);
    result.varint(R::kAttemptsFieldNumber, facts.attempts);
    result.bytes(R::kIdFieldNumber, facts.id);
    result.bytes(R::kParentFieldNumber, facts.parent);
    result.bytes(R::kQueueFieldNumber, facts.queue);
    result.varint(R::kEmittedFieldNumber, facts.emitted);
  });
}

void FinalResult::reset() {
  sent = false;
  size_ = 0;
  // A small buffer is kept as it is: emptied, the next write would resize it again.
  drop_large_buffer(buffer_);
}

}  // namespace conveyor::broker
