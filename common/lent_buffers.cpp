#include "conveyor/common/lent_buffers.hpp"

#include <cassert>
#include <utility>

namespace conveyor {

// What a lent message's hint points at: the buffer, and the way back.
struct LentBuffers::Lent {
  std::shared_ptr<LentBuffers> owner;
  ByteBuffer buffer;
};

zmq::message_t LentBuffers::lend(BatchBuffer batch) {
  assert(batch.offset + batch.size <= batch.buffer.capacity());
  // A small frame in a big buffer is copied: lent, it would hold its whole capacity (up to
  // kMaxKeptBytes) for as long as the message waits for a slow peer, and a peer's queue may hold
  // thousands of them. The buffer is freed, not kept: it is too big for the batches of the
  // moment, and the next writer grows one to fit them.
  if (batch.size < batch.buffer.capacity() / kLentShare) {
    return zmq::message_t(batch.frame().data(), batch.size);
  }
  auto lent = std::make_unique<Lent>(Lent{shared_from_this(), std::move(batch.buffer)});
  char* data = lent->buffer.data() + batch.offset;
  zmq::message_t message(data, batch.size, &LentBuffers::give_back, lent.get());
  lent.release();  // ZeroMQ owns it now: give_back() ends it
  return message;
}

void LentBuffers::give_back(void* /*data*/, void* hint) noexcept {
  std::unique_ptr<Lent> lent(static_cast<Lent*>(hint));
  lent->owner->keep(std::move(lent->buffer));
}

// Runs in ZeroMQ's I/O thread, in a noexcept free function: it never allocates (back_ keeps room
// for kKept, see take_back()).
void LentBuffers::keep(ByteBuffer buffer) noexcept {
  if (buffer.capacity() > kMaxKeptBytes) return;  // a peak is not kept
  const std::lock_guard lock(mutex_);
  if (back_.size() < kKept) back_.push_back(std::move(buffer));
}

std::vector<ByteBuffer> LentBuffers::take_back() {
  std::vector<ByteBuffer> taken;
  taken.reserve(kKept);
  const std::lock_guard lock(mutex_);
  taken.swap(back_);
  return taken;
}

std::size_t LentBuffers::given_back() const {
  const std::lock_guard lock(mutex_);
  return back_.size();
}

}  // namespace conveyor
