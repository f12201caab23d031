// BatchWriter: batches written field by field are the bytes libprotobuf writes for the same
// Envelope, so every peer reads them.
#include "conveyor/common/batch_writer.hpp"

#include <gtest/gtest.h>

#include <random>
#include <string>
#include <vector>

#include "conveyor/common/codec.hpp"
#include "conveyor/proto/conveyor.pb.h"

namespace conveyor {
namespace {

std::string serialized(wire::Envelope envelope) {
  envelope.set_version(kProtocolVersion);
  return envelope.SerializeAsString();
}

// The same task as a wire::Task and through the writer.
void write_task(BatchWriter& batch, const wire::Task& t) {
  batch.add([&](auto& task) {
    task.bytes(1, t.producer());
    task.varint(2, t.seq());
    task.varint(3, t.attempt());
    task.bytes(4, t.payload());
    for (const auto& header : t.headers()) {
      task.message(5, [&](auto& h) {
        h.bytes(1, header.key());
        h.bytes(2, header.value());
      });
    }
    task.bytes(6, t.id());
  });
}

// varint_size() is counted from the bit width: it must say how many bytes put_varint() writes, at
// every length, either side of each seven-bit boundary.
TEST(BatchWriter, VarintSizeIsWhatPutVarintWrites) {
  std::vector<std::uint64_t> values = {0, 1, ~std::uint64_t{0}};
  for (int bits = 7; bits < 64; bits += 7) {
    values.push_back((std::uint64_t{1} << bits) - 1);
    values.push_back(std::uint64_t{1} << bits);
  }
  for (const std::uint64_t value : values) {
    char bytes[10];
    const auto written = static_cast<std::size_t>(put_varint(bytes, value) - bytes);
    EXPECT_EQ(varint_size(value), written) << value;
  }
  static_assert(varint_size(0) == 1 && varint_size(127) == 1 && varint_size(128) == 2);
  static_assert(varint_size(~std::uint64_t{0}) == 10);
}

TEST(BatchWriter, TasksAreTheBytesProtobufWrites) {
  wire::Envelope expected;
  auto* tasks = expected.mutable_tasks();
  auto* plain = tasks->add_tasks();
  plain->set_producer("p1");
  plain->set_seq(0);  // zero: left out, as protobuf does
  plain->set_attempt(1);
  plain->set_payload("x");
  auto* full = tasks->add_tasks();
  full->set_producer("a-producer-with-a-long-name");
  full->set_seq((std::uint64_t{1} << 63) | 300);  // a 10-byte varint
  full->set_attempt(7);
  full->set_payload(std::string(200, 'p'));  // a two-byte length
  auto* header = full->add_headers();
  header->set_key("k");
  header->set_value(std::string(130, 'v'));
  full->add_headers()->set_key("only-a-key");
  full->set_id("p1:3/2");
  tasks->add_tasks();  // an empty task: an empty message, still counted

  BatchWriter batch;
  batch.start(BatchWriter::Kind::tasks);
  for (const auto& task : expected.tasks().tasks())
    write_task(batch, task);
  EXPECT_EQ(batch.count(), 3u);
  EXPECT_EQ(std::string(batch.finish()), serialized(expected));
}

TEST(BatchWriter, ResultsAreTheBytesProtobufWrites) {
  wire::Envelope expected;
  auto* result = expected.mutable_results()->add_results();
  result->set_seq(5);
  result->set_status(wire::DEAD);
  result->set_output(std::string(70000, 'o'));  // a three-byte length
  result->set_error("failed 3 times");
  result->set_consumer("c1");
  result->set_attempts(3);
  result->set_id("p1:1/0");
  result->set_parent("p1:1");
  result->set_queue("pages");
  result->set_emitted(2);

  BatchWriter batch;
  batch.start(BatchWriter::Kind::results);
  batch.add([&](auto& r) {
    r.varint(2, result->seq());
    r.varint(3, static_cast<std::uint64_t>(result->status()));
    r.bytes(4, result->output());
    r.bytes(5, result->error());
    r.bytes(6, result->consumer());
    r.varint(7, result->attempts());
    r.bytes(12, result->id());
    r.bytes(13, result->parent());
    r.bytes(14, result->queue());
    r.varint(15, result->emitted());
  });
  EXPECT_EQ(std::string(batch.finish()), serialized(expected));
}

TEST(BatchWriter, AnEmptyBatchIsAnEnvelopeWithAnEmptyBody) {
  BatchWriter batch;
  batch.start(BatchWriter::Kind::results);
  wire::Envelope expected;
  expected.mutable_results();
  EXPECT_EQ(std::string(batch.finish()), serialized(expected));
  wire::Envelope decoded;
  EXPECT_FALSE(decode(batch.frame(), 1000, decoded));
  EXPECT_TRUE(decoded.has_results());
}

TEST(BatchWriter, AnItemThatWouldTakeTheFramePastALimitIsLeftOutUnlessItIsAlone) {
  BatchWriter batch;
  batch.start(BatchWriter::Kind::tasks);
  const std::string payload(100, 'x');
  const auto task = [&](auto& t) { t.bytes(4, payload); };  // 104 bytes in the batch
  EXPECT_TRUE(batch.add(task, 50)) << "alone, it goes in whatever the limit";
  EXPECT_FALSE(batch.add(task, 223)) << "208 bytes and the header's 16 of room";
  EXPECT_EQ(batch.count(), 1u);
  EXPECT_TRUE(batch.add(task, 224));
  EXPECT_EQ(batch.count(), 2u);
  EXPECT_LE(batch.finish().size(), 224u);
}

TEST(BatchWriter, StartForgetsTheLastBatch) {
  BatchWriter batch;
  batch.start(BatchWriter::Kind::tasks);
  batch.add([&](auto& task) { task.bytes(4, std::string(1000, 'a')); });
  batch.finish();
  batch.start(BatchWriter::Kind::tasks);
  batch.add([&](auto& task) { task.varint(2, 9); });
  wire::Envelope expected;
  expected.mutable_tasks()->add_tasks()->set_seq(9);
  EXPECT_EQ(batch.count(), 1u);
  EXPECT_EQ(std::string(batch.finish()), serialized(expected));
}

// A result kept encoded (the broker's FinalResult) goes into a batch as the same bytes that
// adding its fields writes.
TEST(BatchWriter, AnItemEncodedAheadIsTheSameBytesAsTheItemAdded) {
  const auto fields = [](auto& result) {
    result.varint(2, 41);
    result.varint(3, 1);
    result.bytes(4, std::string(300, 'o'));  // a length over one byte
    result.bytes(6, "c1");
  };
  BatchWriter added;
  added.start(BatchWriter::Kind::results);
  added.add(fields);
  added.add(fields);
  std::string buffer = "left over from an earlier result";
  const std::size_t size = encode_fields(buffer, fields);
  BatchWriter copied;
  copied.start(BatchWriter::Kind::results);
  copied.add_encoded(std::string_view(buffer).substr(0, size));
  copied.add_encoded(std::string_view(buffer).substr(0, size));
  EXPECT_EQ(copied.count(), 2u);
  EXPECT_EQ(std::string(copied.finish()), std::string(added.finish()));
}

// encode_fields() makes room by FieldBound, so the bound must hold for any values: varints of
// every length (the longest 10 bytes), strings empty or not, a nested message. It holds by
// exactly the room the longest varints take.
TEST(BatchWriter, TheBoundIsNeverBelowTheSizeAndExactForTheLongestVarints) {
  std::mt19937_64 random(3);
  for (int round = 0; round < 2000; ++round) {
    const std::uint64_t value = random() >> (random() % 64);
    const std::string text(random() % 300, 'x');
    const auto fields = [&](auto& out) {
      out.varint(2, value);
      out.bytes(4, text);
      out.message(5, [&](auto& header) { header.bytes(1, text); });
      out.element(7, "");
    };
    FieldSizer sizer;
    fields(sizer);
    FieldBound bound;
    fields(bound);
    ASSERT_GE(bound.size(), sizer.size()) << "value " << value << ", " << text.size() << " bytes";
  }
  const auto longest = [](auto& out) { out.varint(2, UINT64_MAX); };
  FieldSizer sizer;
  longest(sizer);
  FieldBound bound;
  longest(bound);
  EXPECT_EQ(bound.size(), sizer.size());
}

// A reused buffer is written from its start and not shrunk: the size returned is what counts.
TEST(BatchWriter, EncodingIntoALargerBufferReturnsTheEncodingsOwnSize) {
  std::string buffer(1000, '?');
  const std::size_t size = encode_fields(buffer, [](auto& task) { task.varint(2, 9); });
  EXPECT_EQ(buffer.size(), 1000u);
  wire::Task expected;
  expected.set_seq(9);
  EXPECT_EQ(std::string_view(buffer).substr(0, size), expected.SerializeAsString());
}

// A writer given back a used buffer (as after a send) writes the same frames as a new writer:
// the old bytes are only room, never part of a frame, whether the next batch is longer or shorter.
TEST(BatchWriter, ABufferGivenBackAfterASendWritesTheSameFramesAsANewOne) {
  const auto fill = [](BatchWriter& batch) {
    batch.start(BatchWriter::Kind::tasks);
    for (std::uint64_t seq = 1; seq <= 200; ++seq)
      batch.add([&](auto& task) {
        task.varint(2, seq);
        task.bytes(4, std::string(seq % 50, 'p'));
      });
    return std::string(batch.finish());
  };
  BatchWriter first;
  const std::string expected = fill(first);
  BatchWriter again(first.release().buffer);
  EXPECT_EQ(fill(again), expected);
  EXPECT_EQ(fill(again), expected) << "and once more, without a release";

  again.start(BatchWriter::Kind::tasks);
  again.add([](auto& task) { task.varint(2, 7); });
  wire::Envelope shorter;
  shorter.mutable_tasks()->add_tasks()->set_seq(7);
  EXPECT_EQ(std::string(again.finish()), serialized(shorter));
}

// The send without a copy (LentBuffers): the released buffer holds the frame, not a copy of it,
// and a writer given that buffer back writes the next batch into its capacity.
TEST(BatchWriter, AReleasedBufferHoldsTheFrameAndIsFilledAgainWhenGivenBack) {
  BatchWriter batch;
  batch.start(BatchWriter::Kind::tasks);
  batch.add([&](auto& task) { task.bytes(4, std::string(1000, 'a')); });
  const std::string_view frame = batch.finish();
  const std::string copy(frame);
  BatchBuffer released = batch.release();
  EXPECT_EQ(released.frame(), copy);
  EXPECT_EQ(released.frame().data(), frame.data()) << "the same bytes, not a copy";

  const std::size_t capacity = released.buffer.capacity();
  BatchWriter again(std::move(released.buffer));
  EXPECT_EQ(again.capacity(), capacity);
  again.start(BatchWriter::Kind::tasks);
  again.add([&](auto& task) { task.varint(2, 9); });
  wire::Envelope expected;
  expected.mutable_tasks()->add_tasks()->set_seq(9);
  EXPECT_EQ(std::string(again.finish()), serialized(expected));
  EXPECT_EQ(again.capacity(), capacity) << "a small batch fits the buffer it was given";
}

}  // namespace
}  // namespace conveyor
