// Delivery: one task as a consumer holds it, from the broker's batch to its handler. Its fields
// are views into the frame the task came in, and `owner` keeps that frame alive until the last
// task of the batch is done; in a consumer, producer() views the session's copy of the id
// instead (consumer/producer_ids.hpp), which outlives the frame.
//
// Why not a wire::Task: parsing one per task, moving it through take_work and destroying it was
// about 3,300 of the consumer's instructions per task; a delivery is a few words and a reference
// count, the payload never copied, and the consumer went from 5,753 to 3,260 (callgrind,
// BENCHMARKS.md, "CPU per task").
//
// The price: a frame is kept while any of its tasks is held, so a slow task keeps its batch-mates'
// bytes too (and, since libzmq hands over small frames inside its receive buffer without a copy,
// up to that 8 KiB buffer). The broker sends at most the consumer's capacity in a batch, so what
// is held stays bounded by the capacity times the largest batch.
#pragma once

#include <cstdint>
#include <memory>
#include <string_view>

#include "conveyor/common/batch_reader.hpp"
#include "conveyor/proto/conveyor.pb.h"

namespace conveyor {

class Delivery {
 public:
  using Headers = google::protobuf::RepeatedPtrField<wire::Header>;

  Delivery() = default;
  // `task` points into what `owner` keeps alive: a frame, or the batch decode() parsed from it.
  Delivery(const TaskView& task, std::shared_ptr<const void> owner)
      : producer_(task.producer),
        seq_(task.seq),
        attempt_(task.attempt),
        payload_(task.payload),
        id_(task.id),
        headers_(task.headers),
        owner_(std::move(owner)) {}
  // Views of `task` with no owner: valid while `task` is.
  static Delivery view_of(const wire::Task& task);
  // A delivery of a copy of `task` that it owns (tests; handlers called outside a consumer).
  static Delivery copy_of(wire::Task task);
  // The same views without the owner: for a caller that holds this delivery meanwhile (a
  // handler's Task), so that no reference count is touched.
  Delivery borrowed() const;

  std::string_view producer() const { return producer_; }
  std::uint64_t seq() const { return seq_; }
  std::uint32_t attempt() const { return attempt_; }
  std::string_view payload() const { return payload_; }
  // Set for a task another handler emitted: "PARENT_ID/K"; empty otherwise.
  std::string_view id() const { return id_; }
  const Headers& headers() const;

 private:
  std::string_view producer_;
  std::uint64_t seq_ = 0;
  std::uint32_t attempt_ = 0;
  std::string_view payload_;
  std::string_view id_;
  const Headers* headers_ = nullptr;  // null: none (BatchReader reads only tasks without)
  std::shared_ptr<const void> owner_;
};

}  // namespace conveyor
