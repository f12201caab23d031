// consumer::Report: what the consumer tells the broker about one delivery, in plain members; it
// goes on the wire as a wire::Result, written field by field (write_report).
//
// Why not a wire::Result from the handler on: a protobuf message per task, with a heap string per
// field set, its construction, two moves and its destruction were a fifth of the consumer's
// instructions (BENCHMARKS.md, "CPU per task"). Here the handler's output moves in without a copy
// and a short producer id fits in the string itself.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "conveyor/proto/conveyor.pb.h"

namespace conveyor::consumer {

struct Report {
  // The task's Delivery::producer(), a view: in a consumer, of the session's copy (ProducerIds),
  // valid while the session holds the task or this report; elsewhere, valid as long as the
  // Delivery it came from.
  std::string_view producer;
  std::uint64_t seq = 0;
  std::uint32_t attempts = 0;  // the delivery (Task.attempt) it answers: the broker checks it
  wire::Status status = wire::STATUS_UNSPECIFIED;
  std::string output;
  std::string error;              // with FAILED
  bool retry = false;             // with FAILED: worth trying again later
  bool timed_out = false;         // with FAILED: cut short at --task-timeout
  bool lost = false;              // with FAILED: its pipe: worker process died
  std::vector<std::string> emit;  // payloads of tasks for --emit-to

  bool ok() const { return status == wire::OK; }
};

// The Result fields a consumer sends (proto/conveyor.proto marks the others B->P, the broker's),
// in field-number order, for BatchWriter::add. consumer_results_frame_test checks the bytes
// against libprotobuf's and that every Result field is either here or the broker's.
template <class Out>
void write_report(Out& out, const Report& report) {
  using R = wire::Result;
  out.bytes(R::kProducerFieldNumber, report.producer);
  out.varint(R::kSeqFieldNumber, report.seq);
  out.varint(R::kStatusFieldNumber, static_cast<std::uint32_t>(report.status));
  out.bytes(R::kOutputFieldNumber, report.output);
  out.bytes(R::kErrorFieldNumber, report.error);
  out.varint(R::kAttemptsFieldNumber, report.attempts);
  out.varint(R::kRetryFieldNumber, report.retry ? 1 : 0);
  out.varint(R::kTimedOutFieldNumber, report.timed_out ? 1 : 0);
  out.varint(R::kLostFieldNumber, report.lost ? 1 : 0);
  for (const auto& emitted : report.emit)
    out.element(R::kEmitFieldNumber, emitted);
}

}  // namespace conveyor::consumer
