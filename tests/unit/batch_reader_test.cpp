// BatchReader: what it takes, libprotobuf parses to the same values; what it cannot vouch for, it
// leaves to the decoder.
#include "conveyor/common/batch_reader.hpp"

#include <gtest/gtest.h>

#include <random>
#include <string>
#include <vector>

#include "conveyor/common/codec.hpp"
#include "conveyor/proto/conveyor.pb.h"
#include "unit/mutation.hpp"

namespace conveyor {
namespace {

using Kind = BatchReader::Kind;

std::string serialized(wire::Envelope envelope, std::uint32_t version = kProtocolVersion) {
  envelope.set_version(version);
  return envelope.SerializeAsString();
}

wire::Envelope task_batch(std::mt19937_64& random, int count) {
  wire::Envelope envelope;
  envelope.mutable_tasks();  // set even with no tasks: an empty batch is still a batch
  for (int i = 0; i < count; ++i) {
    auto* task = envelope.mutable_tasks()->add_tasks();
    if (random() % 2 != 0) task->set_producer("p" + std::to_string(random() % 100));
    task->set_seq(random() % 3 == 0 ? random() : random() % 1000);  // 10-byte varints too
    task->set_attempt(static_cast<std::uint32_t>(random() % 5));
    std::string payload(random() % 300, '\0');
    for (char& c : payload)
      c = static_cast<char>(random());  // bytes: anything goes
    task->set_payload(payload);
    if (random() % 4 == 0) task->set_id("p1:" + std::to_string(i) + "/0");
  }
  return envelope;
}

wire::Envelope ack(std::mt19937_64& random, int count) {
  wire::Envelope envelope;
  envelope.mutable_ack();  // set even with no seqs: an empty ack is still an ack
  for (int i = 0; i < count; ++i)
    envelope.mutable_ack()->add_seqs(random() % 3 == 0 ? random() : random() % 100000);
  return envelope;
}

wire::Envelope result_batch(std::mt19937_64& random, int count) {
  wire::Envelope envelope;
  envelope.mutable_results();
  for (int i = 0; i < count; ++i) {
    auto* result = envelope.mutable_results()->add_results();
    result->set_producer("producer-" + std::to_string(random() % 10));
    result->set_seq(random() % 100000);
    result->set_status(static_cast<wire::Status>(random() % 4));
    result->set_output(std::string(random() % 200, static_cast<char>(random())));
    if (random() % 3 == 0) result->set_error("boom " + std::to_string(i));
    if (random() % 2 == 0) result->set_consumer("c1");
    result->set_attempts(static_cast<std::uint32_t>(random() % 4));
    result->set_retry(random() % 2 == 0);
    result->set_timed_out(random() % 5 == 0);
    result->set_lost(random() % 7 == 0);
    if (random() % 4 == 0) {  // B->P: an emitted task's result
      result->set_id("p1:" + std::to_string(i) + "/0");
      result->set_parent("p1:" + std::to_string(i));
      result->set_queue("stage-2");
    }
    result->set_emitted(static_cast<std::uint32_t>(random() % 3));
  }
  return envelope;
}

void expect_same(const TaskView& view, const wire::Task& task) {
  EXPECT_EQ(view.producer, task.producer());
  EXPECT_EQ(view.seq, task.seq());
  EXPECT_EQ(view.attempt, task.attempt());
  EXPECT_EQ(view.payload, task.payload());
  EXPECT_EQ(view.id, task.id());
  EXPECT_TRUE(task.headers().empty());
}

void expect_same(const ResultView& view, const wire::Result& result) {
  EXPECT_EQ(view.producer, result.producer());
  EXPECT_EQ(view.seq, result.seq());
  EXPECT_EQ(view.status, result.status());
  EXPECT_EQ(view.output, result.output());
  EXPECT_EQ(view.error, result.error());
  EXPECT_EQ(view.consumer, result.consumer());
  EXPECT_EQ(view.attempts, result.attempts());
  EXPECT_EQ(view.retry, result.retry());
  EXPECT_EQ(view.timed_out, result.timed_out());
  EXPECT_EQ(view.lost, result.lost());
  EXPECT_EQ(view.id, result.id());
  EXPECT_EQ(view.parent, result.parent());
  EXPECT_EQ(view.queue, result.queue());
  EXPECT_EQ(view.emitted, result.emitted());
  EXPECT_TRUE(result.emit().empty());
}

// The property: a frame the reader takes is one libprotobuf parses, to the same values.
// Returns what the reader made of it.
Kind check_against_protobuf(BatchReader& reader, const std::string& frame) {
  const Kind kind = reader.read(frame, kProtocolVersion);
  if (kind == Kind::none) return kind;
  wire::Envelope parsed;
  EXPECT_TRUE(parsed.ParseFromString(frame)) << "the reader took a frame libprotobuf refuses";
  EXPECT_EQ(parsed.version(), kProtocolVersion);
  if (kind == Kind::tasks) {
    EXPECT_TRUE(parsed.has_tasks());
    const auto& tasks = parsed.tasks().tasks();
    EXPECT_EQ(reader.tasks().size(), static_cast<std::size_t>(tasks.size()));
    for (std::size_t i = 0; i < reader.tasks().size() && i < std::size_t(tasks.size()); ++i)
      expect_same(reader.tasks()[i], tasks[static_cast<int>(i)]);
  } else if (kind == Kind::acks) {
    EXPECT_TRUE(parsed.has_ack());
    const auto& seqs = parsed.ack().seqs();
    EXPECT_EQ(std::vector<std::uint64_t>(reader.acked().begin(), reader.acked().end()),
              std::vector<std::uint64_t>(seqs.begin(), seqs.end()));
  } else {
    EXPECT_TRUE(parsed.has_results());
    const auto& results = parsed.results().results();
    EXPECT_EQ(reader.results().size(), static_cast<std::size_t>(results.size()));
    for (std::size_t i = 0; i < reader.results().size() && i < std::size_t(results.size()); ++i)
      expect_same(reader.results()[i], results[static_cast<int>(i)]);
  }
  return kind;
}

TEST(BatchReader, ReadsTheBatchesProtobufWrites) {
  std::mt19937_64 random(1);
  BatchReader reader;
  for (int round = 0; round < 50; ++round) {
    const std::string tasks = serialized(task_batch(random, round % 20));
    ASSERT_EQ(check_against_protobuf(reader, tasks), Kind::tasks);
    EXPECT_EQ(reader.tasks().size(), static_cast<std::size_t>(round % 20));
    const std::string results = serialized(result_batch(random, round % 20));
    ASSERT_EQ(check_against_protobuf(reader, results), Kind::results);
    EXPECT_EQ(reader.results().size(), static_cast<std::size_t>(round % 20));
  }
}

// Varints are read one, two and three bytes at a time without a loop, and longer ones with it:
// every length, either side of each byte boundary, and as the last bytes of an element (where
// fewer than three bytes are left to read).
TEST(BatchReader, VarintsOfEveryLengthReadAsProtobufReadsThem) {
  std::vector<std::uint64_t> values = {0, ~std::uint64_t{0}};
  for (int bits = 7; bits < 64; bits += 7) {
    values.push_back((std::uint64_t{1} << bits) - 1);
    values.push_back(std::uint64_t{1} << bits);
  }
  BatchReader reader;
  for (const std::uint64_t value : values) {
    wire::Envelope tasks;
    auto* task = tasks.mutable_tasks()->add_tasks();
    task->set_seq(value);
    task->set_payload(std::string(value % 200, 'x'));      // lengths of one and two bytes
    task->set_attempt(static_cast<std::uint32_t>(value));  // last: ends the element
    ASSERT_EQ(check_against_protobuf(reader, serialized(tasks)), Kind::tasks) << value;
    EXPECT_EQ(reader.tasks()[0].seq, value);
    wire::Envelope results;
    auto* result = results.mutable_results()->add_results();
    result->set_seq(value);
    result->set_emitted(static_cast<std::uint32_t>(value));  // last: ends the element and frame
    ASSERT_EQ(check_against_protobuf(reader, serialized(results)), Kind::results) << value;
    EXPECT_EQ(reader.results()[0].emitted, static_cast<std::uint32_t>(value));
  }
}

// libprotobuf writes an Ack's seqs packed; a parser must also take them one by one, and several
// runs of either, appended in order.
TEST(BatchReader, AcksPackedOrOneByOneReadAsProtobufReadsThem) {
  std::mt19937_64 random(4);
  BatchReader reader;
  for (int count = 0; count < 40; ++count) {
    ASSERT_EQ(check_against_protobuf(reader, serialized(ack(random, count))), Kind::acks);
    EXPECT_EQ(reader.acked().size(), static_cast<std::size_t>(count));
  }
  // An envelope of the version alone, then an Ack body written by hand.
  const auto framed = [](const std::string& ack_body) {
    std::string frame = serialized(wire::Envelope{});
    frame += static_cast<char>(wire::Envelope::kAckFieldNumber << 3 | 2);
    frame += static_cast<char>(ack_body.size());
    return frame + ack_body;
  };
  const std::string one_by_one("\x08\x05\x08\x96\x01", 5);  // 5, 150
  const std::string packed("\x0a\x03\x07\xac\x02", 5);      // 7, 300
  ASSERT_EQ(check_against_protobuf(reader, framed(one_by_one + packed + one_by_one)), Kind::acks);
  EXPECT_EQ(std::vector<std::uint64_t>(reader.acked().begin(), reader.acked().end()),
            (std::vector<std::uint64_t>{5, 150, 7, 300, 5, 150}));
  const std::string cut("\x0a\x02\x07\xac", 4);  // the run ends inside 300
  EXPECT_EQ(check_against_protobuf(reader, framed(cut)), Kind::none);
  const std::string other_field("\x10\x01", 2);
  EXPECT_EQ(check_against_protobuf(reader, framed(packed + other_field)), Kind::none);
}

TEST(BatchReader, LeavesToTheDecoderWhatItCannotVouchFor) {
  std::mt19937_64 random(2);
  BatchReader reader;
  const auto refused = [&](const wire::Envelope& envelope, std::uint32_t version) {
    return reader.read(serialized(envelope, version), kProtocolVersion) == Kind::none;
  };
  wire::Envelope with_headers = task_batch(random, 3);
  with_headers.mutable_tasks()->mutable_tasks(1)->add_headers()->set_key("k");
  EXPECT_TRUE(refused(with_headers, kProtocolVersion));
  wire::Envelope with_emits = result_batch(random, 3);
  with_emits.mutable_results()->mutable_results(2)->add_emit("child");
  EXPECT_TRUE(refused(with_emits, kProtocolVersion));
  wire::Envelope not_ascii = result_batch(random, 2);
  not_ascii.mutable_results()->mutable_results(0)->set_error("caf\xc3\xa9");  // valid UTF-8
  EXPECT_TRUE(refused(not_ascii, kProtocolVersion));
  EXPECT_TRUE(refused(task_batch(random, 2), kProtocolVersion + 1));
  EXPECT_TRUE(refused(task_batch(random, 2), 0));  // no version at all
  wire::Envelope pill;
  pill.mutable_pill()->set_tasks(4);
  EXPECT_TRUE(refused(pill, kProtocolVersion));
  EXPECT_TRUE(refused(ack(random, 3), kProtocolVersion + 1));

  const std::string good = serialized(task_batch(random, 2));
  EXPECT_EQ(reader.read(good + good, kProtocolVersion), Kind::none);  // a body twice: merged
  EXPECT_EQ(reader.read(good + std::string("\x78\x01", 2), kProtocolVersion), Kind::none);
  EXPECT_EQ(reader.read("", kProtocolVersion), Kind::none);
  EXPECT_EQ(reader.read(good, kProtocolVersion), Kind::tasks);  // and the good one still reads
}

TEST(BatchReader, RefusesEveryCutFrame) {
  std::mt19937_64 random(3);
  BatchReader reader;
  for (const std::string& frame :
       {serialized(task_batch(random, 5)), serialized(result_batch(random, 5)),
        serialized(ack(random, 5))}) {
    ASSERT_NE(check_against_protobuf(reader, frame), Kind::none);
    // The body's length covers every task, so a frame cut anywhere is short of it: refused,
    // whether or not the cut falls between two tasks.
    for (std::size_t size = 0; size < frame.size(); ++size)
      EXPECT_EQ(check_against_protobuf(reader, frame.substr(0, size)), Kind::none) << size;
  }
}

// Mutated frames: flipped bytes, truncations and insertions. Whatever the reader takes must be
// what libprotobuf reads; at least some mutations (payload bytes) must still be taken, or this
// would prove nothing.
TEST(BatchReader, MutatedFramesAreTakenOnlyIfProtobufAgrees) {
  BatchReader reader;
  int taken = 0;
  int refused = 0;
  for (std::uint64_t seed = 0; seed < 20; ++seed) {
    std::mt19937_64 random(seed);
    for (int round = 0; round < 200; ++round) {
      std::string frame = round % 3 == 0   ? serialized(task_batch(random, 1 + round % 6))
                          : round % 3 == 1 ? serialized(result_batch(random, 1 + round % 6))
                                           : serialized(ack(random, 1 + round % 6));
      for (int edits = 1 + static_cast<int>(random() % 3); edits > 0; --edits) {
        mutate_once(frame, random);
        if (frame.empty()) frame = "\x08";
      }
      if (check_against_protobuf(reader, frame) == Kind::none) {
        ++refused;
      } else {
        ++taken;
      }
    }
  }
  EXPECT_GT(taken, 100);
  EXPECT_GT(refused, 100);
}

TEST(BatchReader, ViewsOfParsedBatchesLetTheReceiverTakeHeaders) {
  std::mt19937_64 random(4);
  BatchReader reader;
  wire::Envelope envelope = task_batch(random, 3);
  envelope.mutable_tasks()->mutable_tasks(1)->add_headers()->set_key("trace");
  const wire::Envelope copy = envelope;
  const auto tasks = reader.view(*envelope.mutable_tasks());
  ASSERT_EQ(tasks.size(), 3u);
  EXPECT_EQ(tasks[0].headers, nullptr);
  ASSERT_NE(tasks[1].headers, nullptr);
  EXPECT_EQ(tasks[1].headers->Get(0).key(), "trace");
  EXPECT_EQ(tasks[2].payload, copy.tasks().tasks(2).payload());

  wire::Envelope results = result_batch(random, 2);
  results.mutable_results()->mutable_results(0)->add_emit("child");
  const auto views = reader.view(results.results());
  ASSERT_EQ(views.size(), 2u);
  ASSERT_NE(views[0].emit, nullptr);
  EXPECT_EQ(views[0].emit->Get(0), "child");
  EXPECT_EQ(views[1].emit, nullptr);
  EXPECT_EQ(views[1].output, results.results().results(1).output());
}

}  // namespace
}  // namespace conveyor
