// LentBuffers: encoded batches lent to ZeroMQ so that a send does not copy them, and given back
// once ZeroMQ is done with them, for the loop thread to fill again.
//
// Why: a batch is written once, straight into its buffer (BatchWriter); copying it again into a
// zmq::message_t was the largest memcpy left in the broker (about 190 of its instructions per
// task, BENCHMARKS.md). ZeroMQ frees a message in its I/O thread, or in the sender's when a send
// fails, so the way back is locked; it is taken once per batch, never per task.
//
// What it keeps is bounded (kKept buffers, none over kMaxKeptBytes). A slow peer's queued
// messages hold their buffers until sent, and the sender allocates new ones meanwhile: a lent
// buffer is at most kLentShare times its frame (smaller frames are copied), so queued messages
// hold at most that many times the bytes they would hold as copies.
#pragma once

#include <cstddef>
#include <memory>
#include <mutex>
#include <vector>

#include <zmq.hpp>

#include "conveyor/common/batch_writer.hpp"

namespace conveyor {

class LentBuffers : public std::enable_shared_from_this<LentBuffers> {
 public:
  static constexpr std::size_t kKept = 8;
  static constexpr std::size_t kMaxKeptBytes = kMaxKeptBatchBytes;
  // A frame under 1/kLentShare of its buffer's capacity is copied, not lent (see lend()).
  static constexpr std::size_t kLentShare = 4;

  // Shared: every message lent holds this alive until ZeroMQ frees it, whichever goes first.
  static std::shared_ptr<LentBuffers> make() { return std::make_shared<LentBuffers>(); }
  LentBuffers() { back_.reserve(kKept); }

  // A message of the batch's frame, without a copy; the buffer comes back here when ZeroMQ frees
  // the message. A frame that is a small part of its buffer is copied instead, and the buffer
  // freed.
  zmq::message_t lend(BatchBuffer batch);
  // The buffers given back since the last call, as they were (their bytes are room to reuse).
  std::vector<ByteBuffer> take_back();
  std::size_t given_back() const;  // waiting to be taken back (for tests)

 private:
  struct Lent;
  static void give_back(void* data, void* hint) noexcept;  // ZeroMQ's free function
  void keep(ByteBuffer buffer) noexcept;

  mutable std::mutex mutex_;
  std::vector<ByteBuffer> back_;  // guarded by mutex_; room for kKept, always
};

}  // namespace conveyor
