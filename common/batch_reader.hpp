// BatchReader: an Envelope holding a TaskBatch or a ResultBatch, read in place: one view per task
// or result, pointing into the frame, instead of a protobuf message (and its strings) per task.
// An Ack's seqs are read the same way, into a reused vector.
//
// Why: parsing every incoming batch with libprotobuf was the largest cost left in the broker,
// about 1,300 instructions per task (BENCHMARKS.md, "CPU per task"); an Ack parsed by
// libprotobuf still cost the broker about 60 per task. The two batches and the acks are nearly
// all the traffic; everything else still goes through decode().
//
// The rule that keeps it safe: the reader takes only frames it can check exactly as libprotobuf
// would, and says "not mine" (Kind::none) to everything else: another protocol version, another
// body, a field it does not know (headers, emitted tasks, anything unknown), a string that is not
// plain ASCII (proto3 wants UTF-8, and ASCII is UTF-8 without a validator), a non-canonical tag,
// or any malformation. The caller then decodes the frame the ordinary way, so a frame the reader
// refuses gets exactly the answer it got before, and one it takes is one libprotobuf parses to the
// same values (tests/unit/batch_reader_test.cpp checks both on mutated frames).
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "conveyor/proto/conveyor.pb.h"

namespace conveyor {

// One task of an incoming batch, as its receiver needs it.
struct TaskView {
  std::string_view producer;
  std::uint64_t seq = 0;
  std::uint32_t attempt = 0;
  std::string_view payload;
  std::string_view id;
  // Set only for a task taken from a parsed wire::Task (the reader does not take headers): the
  // receiver may swap them out.
  google::protobuf::RepeatedPtrField<wire::Header>* headers = nullptr;
};

// One result of an incoming batch, as its receiver needs it.
struct ResultView {
  std::string_view producer;
  std::uint64_t seq = 0;
  wire::Status status = wire::STATUS_UNSPECIFIED;
  std::string_view output;
  std::string_view error;
  std::string_view consumer;
  std::uint32_t attempts = 0;
  bool retry = false;
  bool timed_out = false;
  bool lost = false;
  // Set only for a result taken from a parsed wire::Result (the reader does not take emits).
  const google::protobuf::RepeatedPtrField<std::string>* emit = nullptr;
  // B->P, an emitted task's result: its id, its parent's id, its queue. B->P: tasks it emitted.
  std::string_view id;
  std::string_view parent;
  std::string_view queue;
  std::uint32_t emitted = 0;
};

// The view of a parsed result: valid while `result` is.
ResultView view_of(const wire::Result& result);

class BatchReader {
 public:
  enum class Kind : std::uint8_t { none, tasks, results, acks };

  // Reads `frame`; none: not a frame this reader takes (decode it the ordinary way). The views
  // point into `frame` and are valid while it is, and until the next call.
  Kind read(std::string_view frame, std::uint32_t version);

  // The same views over parsed messages, for frames read by decode(): the handlers have one shape
  // of input whichever way a batch arrived. Valid while the batch is, and until the next call.
  std::span<TaskView> view(wire::TaskBatch& batch);
  std::span<ResultView> view(const wire::ResultBatch& batch);

  std::span<TaskView> tasks() { return tasks_; }
  std::span<ResultView> results() { return results_; }
  std::span<const std::uint64_t> acked() const { return acked_; }  // an Ack's seqs, in order

 private:
  std::vector<TaskView> tasks_;  // reused: steady-state reading does not allocate
  std::vector<ResultView> results_;
  std::vector<std::uint64_t> acked_;
};

// The body's name as body_name() gives it for a parsed envelope: "tasks", "results", "ack".
const char* body_name(BatchReader::Kind kind);

}  // namespace conveyor
