// SourceReader: a real thread and a real inproc socket. Every wait has a deadline.
#include "conveyor/producer/source_reader.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <future>
#include <stdexcept>
#include <string>
#include <vector>

#include "conveyor/common/clock.hpp"

namespace conveyor::producer {
namespace {

using ::testing::ElementsAre;
using ::testing::IsEmpty;

constexpr auto kDeadline = std::chrono::seconds(10);

// The next batch, or nullptr when none arrives within `limit`.
// The payloads of a batch, each as a string.
std::vector<std::string> payloads_of(const SourceBatch& batch) {
  std::vector<std::string> out;
  for (std::size_t i = 0; i < batch.size(); ++i)
    out.emplace_back(batch.payload(i));
  return out;
}

TEST(SourceBatch, PayloadsEndToEndAreViewedOneByOneEmptyOnesIncluded) {
  SourceBatch batch;
  for (const char* payload : {"first", "", "third", ""})
    batch.add(payload);
  EXPECT_EQ(batch.size(), 4u);
  EXPECT_THAT(payloads_of(batch), ElementsAre("first", "", "third", ""));
  EXPECT_EQ(batch.bytes, "firstthird");
}

std::unique_ptr<SourceBatch> await_batch(SourceReader& reader, Duration limit = kDeadline) {
  const TimePoint until = Clock::now() + limit;
  zmq::pollitem_t item{reader.socket().handle(), 0, ZMQ_POLLIN, 0};
  while (true) {
    if (auto batch = reader.take()) return batch;
    const TimePoint now = Clock::now();
    if (now >= until) return nullptr;
    zmq::poll(&item, 1, std::chrono::ceil<milliseconds>(until - now));
  }
}

// Runs `action` on another thread; a hang aborts the test binary rather than stalling it.
template <class Action>
void must_finish_within(Duration limit, Action action, const char* what) {
  auto done = std::async(std::launch::async, std::move(action));
  if (done.wait_for(limit) != std::future_status::ready) {
    std::fprintf(stderr, "%s did not return within the deadline\n", what);
    std::abort();
  }
  done.get();
}

// A pipe whose read end a lines source opens through /dev/fd.
class Pipe {
 public:
  Pipe() {
    if (::pipe(fds_) != 0) throw std::runtime_error("pipe");
  }
  ~Pipe() {
    close_write();
    ::close(fds_[0]);
  }
  std::string read_path() const { return "/dev/fd/" + std::to_string(fds_[0]); }
  void write(const std::string& text) {
    ASSERT_EQ(::write(fds_[1], text.data(), text.size()), static_cast<ssize_t>(text.size()));
  }
  void close_write() {
    if (fds_[1] >= 0) ::close(fds_[1]);
    fds_[1] = -1;
  }

 private:
  int fds_[2] = {-1, -1};
};

TEST(SourceReader, ReturnsBatchesOfAtMostTheRequestedSize) {
  zmq::context_t context(1);
  SourceReader reader(context, generator_source(5, std::nullopt));
  EXPECT_EQ(reader.size_hint(), 5u);
  reader.request(3);
  EXPECT_TRUE(reader.busy());
  auto first = await_batch(reader);
  ASSERT_NE(first, nullptr);
  EXPECT_FALSE(reader.busy());
  EXPECT_THAT(payloads_of(*first), ElementsAre("0", "1", "2"));
  EXPECT_FALSE(first->end);
  reader.request(10);
  auto second = await_batch(reader);
  ASSERT_NE(second, nullptr);
  EXPECT_THAT(payloads_of(*second), ElementsAre("3", "4"));
  EXPECT_TRUE(second->end);
  EXPECT_EQ(second->error, "");
}

TEST(SourceReader, KeepsSayingEndAfterTheSourceIsExhausted) {
  zmq::context_t context(1);
  SourceReader reader(context, generator_source(0, std::nullopt));
  reader.request(4);
  auto first = await_batch(reader);
  ASSERT_NE(first, nullptr);
  EXPECT_TRUE(first->end);
  reader.request(4);
  auto second = await_batch(reader);
  ASSERT_NE(second, nullptr);
  EXPECT_THAT(payloads_of(*second), IsEmpty());
  EXPECT_TRUE(second->end);
}

TEST(SourceReader, OneRequestAtATime) {
  zmq::context_t context(1);
  SourceReader reader(context, generator_source(10, std::nullopt));
  reader.request(2);
  reader.request(5);  // ignored: the first is still out
  auto batch = await_batch(reader);
  ASSERT_NE(batch, nullptr);
  EXPECT_EQ(batch->size(), 2u);
  EXPECT_EQ(await_batch(reader, milliseconds(50)), nullptr);
}

TEST(SourceReader, AThrowingSourceGivesAnErrorAndEnds) {
  zmq::context_t context(1);
  int calls = 0;
  SourceReader reader(context, callback_source([&calls]() -> std::optional<std::string> {
                        if (calls == 2) throw std::runtime_error("the disk is on fire");
                        return std::to_string(calls++);
                      }));
  reader.request(10);
  auto batch = await_batch(reader);
  ASSERT_NE(batch, nullptr);
  EXPECT_THAT(payloads_of(*batch), ElementsAre("0", "1"));
  EXPECT_TRUE(batch->end);
  EXPECT_EQ(batch->error, "the disk is on fire");
}

TEST(SourceReader, SendsWhatIsReadyWithoutWaitingToFillTheBatch) {
  zmq::context_t context(1);
  Pipe pipe;
  SourceReader reader(context, lines_source(pipe.read_path()));
  pipe.write("a\nb\n");
  reader.request(100);
  auto batch = await_batch(reader);
  ASSERT_NE(batch, nullptr);
  EXPECT_THAT(payloads_of(*batch), ElementsAre("a", "b"));
  EXPECT_FALSE(batch->end);
  pipe.write("c\n");
  pipe.close_write();
  std::vector<std::string> rest;
  bool end = false;
  while (!end) {
    reader.request(100);
    auto more = await_batch(reader);
    ASSERT_NE(more, nullptr);
    const auto more_payloads = payloads_of(*more);
    rest.insert(rest.end(), more_payloads.begin(), more_payloads.end());
    end = more->end;
  }
  EXPECT_THAT(rest, ElementsAre("c"));
}

TEST(SourceReader, StopWorksWhileTheReaderIsBlockedOnAnEmptyPipe) {
  zmq::context_t context(1);
  Pipe pipe;
  SourceReader reader(context, lines_source(pipe.read_path()));
  reader.request(10);
  EXPECT_EQ(await_batch(reader, milliseconds(50)), nullptr) << "nothing to read yet";
  must_finish_within(
      kDeadline, [&reader] { reader.stop(); }, "SourceReader::stop()");
  reader.request(10);
  EXPECT_EQ(reader.take(), nullptr) << "a stopped reader takes no requests";
}

TEST(SourceReader, ReadersBuiltOneAfterAnotherDoNotCollide) {
  zmq::context_t context(1);
  // Each reader's inproc name must be new even where a destroyed one stood a moment ago.
  for (int i = 0; i < 50; ++i) {
    SourceReader reader(context, generator_source(1, std::nullopt));
    reader.request(1);
    auto batch = await_batch(reader);
    ASSERT_NE(batch, nullptr) << "reader " << i;
    EXPECT_THAT(payloads_of(*batch), ElementsAre("0"));
  }
}

}  // namespace
}  // namespace conveyor::producer
