// LentBuffers: a batch is sent without a copy, and its buffer comes back once ZeroMQ frees the
// message, whichever thread frees it and whether or not the lender is still there.
#include "conveyor/common/lent_buffers.hpp"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

namespace conveyor {
namespace {

// A released batch of `size` bytes filled with `fill`, its frame all of them from `offset` on.
BatchBuffer batch_of(std::size_t size, std::size_t offset = 0, char fill = 'x') {
  BatchBuffer batch{ByteBuffer(size), offset, size - offset};
  std::memset(batch.buffer.data(), fill, size);
  return batch;
}

TEST(LentBuffers, AMessageIsTheBufferFromItsOffsetNotACopy) {
  auto lent = LentBuffers::make();
  BatchBuffer batch = batch_of(1000, 0, 'r');
  batch.offset = 16;  // a header's room before the frame, room after it
  batch.size = 900;
  std::memset(batch.buffer.data() + 16, 'x', 900);
  const char* bytes = batch.buffer.data();
  zmq::message_t message = lent->lend(std::move(batch));
  EXPECT_EQ(message.data<char>(), bytes + 16);
  EXPECT_EQ(message.size(), 900u);
  EXPECT_EQ(message.to_string_view(), std::string(900, 'x'));
}

TEST(LentBuffers, AFreedMessageGivesItsBufferBackWhole) {
  auto lent = LentBuffers::make();
  BatchBuffer batch = batch_of(5000);
  const char* bytes = batch.buffer.data();
  {
    zmq::message_t message = lent->lend(std::move(batch));
    EXPECT_EQ(lent->given_back(), 0u) << "not before ZeroMQ is done with it";
  }
  std::vector<ByteBuffer> back = lent->take_back();
  ASSERT_EQ(back.size(), 1u);
  EXPECT_EQ(back[0].data(), bytes) << "the same buffer";
  EXPECT_EQ(back[0].capacity(), 5000u) << "all of it room for the next batch";
  EXPECT_TRUE(lent->take_back().empty()) << "taken once";
}

TEST(LentBuffers, ABufferOverTheSizeLimitIsNotKept) {
  auto lent = LentBuffers::make();
  { zmq::message_t message = lent->lend(batch_of(LentBuffers::kMaxKeptBytes + 1)); }
  EXPECT_EQ(lent->given_back(), 0u);
  { zmq::message_t message = lent->lend(batch_of(LentBuffers::kMaxKeptBytes)); }
  EXPECT_EQ(lent->given_back(), 1u) << "at the limit, kept";
}

TEST(LentBuffers, NoMoreThanKeptBuffersWait) {
  auto lent = LentBuffers::make();
  {
    std::vector<zmq::message_t> messages;
    for (std::size_t i = 0; i < LentBuffers::kKept + 3; ++i)
      messages.push_back(lent->lend(batch_of(100)));
  }
  EXPECT_EQ(lent->take_back().size(), LentBuffers::kKept);
}

// Lent, a small frame would hold its whole buffer while it waits for a slow peer.
TEST(LentBuffers, ASmallFrameInABigBufferIsCopiedAndTheBufferNotKept) {
  auto lent = LentBuffers::make();
  BatchBuffer batch = batch_of(4000);
  batch.offset = 16;
  batch.size = 4000 / LentBuffers::kLentShare - 1;
  const char* bytes = batch.buffer.data();
  {
    zmq::message_t message = lent->lend(std::move(batch));
    EXPECT_NE(message.data<char>(), bytes + 16) << "a copy";
    EXPECT_EQ(message.to_string_view(), std::string(4000 / LentBuffers::kLentShare - 1, 'x'));
  }
  EXPECT_EQ(lent->given_back(), 0u) << "too big for the batches of the moment";
}

TEST(LentBuffers, AMessageMayOutliveItsLender) {
  auto lent = LentBuffers::make();
  zmq::message_t message = lent->lend(batch_of(300));
  lent.reset();  // the shell is gone; ZeroMQ frees the message later (ASan checks the way back)
  EXPECT_EQ(message.size(), 300u);
  message = zmq::message_t();
}

// As in a shell: ZeroMQ's I/O thread frees messages while the loop thread takes buffers back.
TEST(LentBuffers, MessagesFreedOnAnotherThreadWhileTakenBackAllComeBack) {
  constexpr std::size_t kMessages = 64;
  auto lent = LentBuffers::make();
  std::vector<zmq::message_t> messages;
  for (std::size_t i = 0; i < kMessages; ++i)
    messages.push_back(lent->lend(batch_of(100)));
  std::atomic<std::size_t> taken{0};
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  std::thread io([&] {
    for (std::size_t i = 0; i < kMessages; ++i) {
      // At most kKept wait at a time, so none is dropped for want of room.
      while (i >= taken.load() + LentBuffers::kKept && std::chrono::steady_clock::now() < deadline)
        std::this_thread::yield();
      messages[i] = zmq::message_t();
    }
  });
  while (taken.load() < kMessages && std::chrono::steady_clock::now() < deadline)
    taken += lent->take_back().size();
  io.join();
  EXPECT_EQ(taken.load(), kMessages);
}

}  // namespace
}  // namespace conveyor
