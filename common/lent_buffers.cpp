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
  auto lent = std::make_unique<Lent>(Lent{shared_from_this(), std::move(batch.buffer)});
  char* data = lent->buffer.data() + batch.offset;
  zmq::message_t message(data, batch.size, &LentBuffers::give_back, lent.get());
  lent.release();  // ZeroMQ owns it now: give_back() ends it
  return message;
}

void LentBuffers::give_back(void* /*data*/, void* hint) noexcept {
  std::unique_ptr<Lent> lent(static_cast<Lent*>(hint));
  if (lent->buffer.capacity() > kMaxKeptBytes) return;  // a peak is not kept
  LentBuffers& owner = *lent->owner;
  const std::lock_guard lock(owner.mutex_);
  if (owner.back_.size() < kKept) owner.back_.push_back(std::move(lent->buffer));
}

std::vector<ByteBuffer> LentBuffers::take_back() {
  std::vector<ByteBuffer> taken;
  const std::lock_guard lock(mutex_);
  taken.swap(back_);
  return taken;
}

std::size_t LentBuffers::given_back() const {
  const std::lock_guard lock(mutex_);
  return back_.size();
}

}  // namespace conveyor
