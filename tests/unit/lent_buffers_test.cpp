// LentBuffers: a batch is sent without a copy, and its buffer comes back once ZeroMQ frees the
// message, whichever thread frees it and whether or not the lender is still there.
#include "conveyor/common/lent_buffers.hpp"

#include <gtest/gtest.h>

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

TEST(LentBuffers, WhatComesBackIsBoundedInCountAndSize) {
  auto lent = LentBuffers::make();
  {
    std::vector<zmq::message_t> messages;
    for (std::size_t i = 0; i < LentBuffers::kKept + 3; ++i)
      messages.push_back(lent->lend(batch_of(100)));
    messages.push_back(lent->lend(batch_of(LentBuffers::kMaxKeptBytes + 1)));
  }
  std::vector<ByteBuffer> back = lent->take_back();
  EXPECT_EQ(back.size(), LentBuffers::kKept);
  for (const ByteBuffer& buffer : back)
    EXPECT_LE(buffer.capacity(), LentBuffers::kMaxKeptBytes);
}

TEST(LentBuffers, AMessageMayOutliveItsLender) {
  auto lent = LentBuffers::make();
  zmq::message_t message = lent->lend(batch_of(300));
  lent.reset();  // the shell is gone; ZeroMQ frees the message later (ASan checks the way back)
  EXPECT_EQ(message.size(), 300u);
  message = zmq::message_t();
}

TEST(LentBuffers, MessagesFreedOnAnotherThreadComeBack) {
  auto lent = LentBuffers::make();
  std::vector<zmq::message_t> messages;
  for (int i = 0; i < 4; ++i)
    messages.push_back(lent->lend(batch_of(100)));
  std::thread io([moved = std::move(messages)]() mutable { moved.clear(); });
  io.join();
  EXPECT_EQ(lent->take_back().size(), 4u);
}

}  // namespace
}  // namespace conveyor
