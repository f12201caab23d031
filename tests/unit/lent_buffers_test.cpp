// LentBuffers: a batch is sent without a copy, and its buffer comes back once ZeroMQ frees the
// message, whichever thread frees it and whether or not the lender is still there.
#include "conveyor/common/lent_buffers.hpp"

#include <gtest/gtest.h>

#include <string>
#include <thread>
#include <vector>

namespace conveyor {
namespace {

std::string buffer_of(std::size_t size, char fill = 'x') {
  return std::string(size, fill);
}

TEST(LentBuffers, AMessageIsTheBufferFromItsOffsetNotACopy) {
  auto lent = LentBuffers::make();
  std::string buffer = buffer_of(1000);
  buffer.replace(0, 16, std::string(16, 'h'));
  const char* bytes = buffer.data();
  zmq::message_t message = lent->lend(std::move(buffer), 16);
  EXPECT_EQ(message.data<char>(), bytes + 16);
  EXPECT_EQ(message.size(), 984u);
  EXPECT_EQ(message.to_string_view(), std::string(984, 'x'));
}

TEST(LentBuffers, AFreedMessageGivesItsBufferBackEmptyWithItsCapacity) {
  auto lent = LentBuffers::make();
  std::string buffer = buffer_of(5000);
  const std::size_t capacity = buffer.capacity();
  {
    zmq::message_t message = lent->lend(std::move(buffer), 0);
    EXPECT_EQ(lent->given_back(), 0u) << "not before ZeroMQ is done with it";
  }
  std::vector<std::string> back = lent->take_back();
  ASSERT_EQ(back.size(), 1u);
  EXPECT_TRUE(back[0].empty());
  EXPECT_EQ(back[0].capacity(), capacity);
  EXPECT_TRUE(lent->take_back().empty()) << "taken once";
}

TEST(LentBuffers, WhatComesBackIsBoundedInCountAndSize) {
  auto lent = LentBuffers::make();
  {
    std::vector<zmq::message_t> messages;
    for (std::size_t i = 0; i < LentBuffers::kKept + 3; ++i)
      messages.push_back(lent->lend(buffer_of(100), 0));
    messages.push_back(lent->lend(buffer_of(LentBuffers::kMaxKeptBytes + 1), 0));
  }
  std::vector<std::string> back = lent->take_back();
  EXPECT_EQ(back.size(), LentBuffers::kKept);
  for (const std::string& buffer : back)
    EXPECT_LE(buffer.capacity(), LentBuffers::kMaxKeptBytes);
}

TEST(LentBuffers, AMessageMayOutliveItsLender) {
  auto lent = LentBuffers::make();
  zmq::message_t message = lent->lend(buffer_of(300), 0);
  lent.reset();  // the shell is gone; ZeroMQ frees the message later (ASan checks the way back)
  EXPECT_EQ(message.size(), 300u);
  message = zmq::message_t();
}

TEST(LentBuffers, MessagesFreedOnAnotherThreadComeBack) {
  auto lent = LentBuffers::make();
  std::vector<zmq::message_t> messages;
  for (int i = 0; i < 4; ++i)
    messages.push_back(lent->lend(buffer_of(100), 0));
  std::thread io([moved = std::move(messages)]() mutable { moved.clear(); });
  io.join();
  EXPECT_EQ(lent->take_back().size(), 4u);
}

}  // namespace
}  // namespace conveyor
