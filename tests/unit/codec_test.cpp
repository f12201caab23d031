#include <gtest/gtest.h>

#include "conveyor/common/codec.hpp"
#include "conveyor/common/sockets.hpp"

namespace conveyor {
namespace {

TEST(Codec, RoundTripsAnEnvelopeWithItsVersion) {
  wire::Envelope out;
  out.mutable_pill()->set_tasks(7);
  zmq::message_t frame = encode(out);
  wire::Envelope in;
  EXPECT_FALSE(decode(frame.to_string_view(), 1 << 20, in).has_value());
  EXPECT_EQ(in.version(), kProtocolVersion);
  EXPECT_EQ(in.pill().tasks(), 7u);
}

TEST(Codec, RefusesEmptyOversizedGarbageAndVersionlessFrames) {
  wire::Envelope in;
  EXPECT_EQ(decode("", 100, in), DecodeError::empty);
  EXPECT_EQ(decode(std::string(101, 'x'), 100, in), DecodeError::too_large);
  EXPECT_EQ(decode("\xff\xff\xff\xff", 100, in), DecodeError::malformed);
  wire::Envelope old;
  old.set_version(99);
  old.mutable_heartbeat();
  EXPECT_EQ(decode(old.SerializeAsString(), 100, in), DecodeError::version_mismatch);
  wire::Envelope empty;
  empty.set_version(kProtocolVersion);
  EXPECT_EQ(decode(empty.SerializeAsString(), 100, in), DecodeError::no_body);
}

std::string task_batch(std::initializer_list<std::uint64_t> seqs, const std::string& payload) {
  wire::Envelope envelope;
  for (auto seq : seqs) {
    auto* task = envelope.mutable_tasks()->add_tasks();
    task->set_producer("p1");
    task->set_seq(seq);
    task->set_payload(payload + std::to_string(seq));
  }
  return encode(envelope).to_string();
}

TEST(EnvelopeDecoder, DecodesBatchAfterBatchWithNothingLeftFromTheLastOne) {
  EnvelopeDecoder decoder;
  ASSERT_FALSE(decoder.decode(task_batch({0, 1, 2}, "first-"), 1 << 20).has_value());
  ASSERT_EQ(decoder.envelope().tasks().tasks_size(), 3);
  // The receiver takes payloads out, as broker::Core does.
  std::string taken =
      std::move(*decoder.envelope().mutable_tasks()->mutable_tasks(0)->mutable_payload());
  EXPECT_EQ(taken, "first-0");
  ASSERT_FALSE(decoder.decode(task_batch({7}, "second-"), 1 << 20).has_value());
  const auto& tasks = decoder.envelope().tasks();
  ASSERT_EQ(tasks.tasks_size(), 1);
  EXPECT_EQ(tasks.tasks(0).seq(), 7u);
  EXPECT_EQ(tasks.tasks(0).payload(), "second-7");
  EXPECT_EQ(decoder.envelope().version(), kProtocolVersion);
}

TEST(EnvelopeDecoder, SwitchesBetweenKindsOfMessage) {
  EnvelopeDecoder decoder;
  wire::Envelope results;
  auto* r = results.mutable_results()->add_results();
  r->set_seq(4);
  r->set_output("out");
  wire::Envelope ack;
  ack.mutable_ack()->add_seqs(4);
  const std::string results_bytes = encode(results).to_string();
  const std::string ack_bytes = encode(ack).to_string();
  for (int round = 0; round < 3; ++round) {
    ASSERT_FALSE(decoder.decode(task_batch({1, 2}, "t"), 1 << 20).has_value());
    EXPECT_EQ(decoder.envelope().tasks().tasks_size(), 2);
    ASSERT_FALSE(decoder.decode(results_bytes, 1 << 20).has_value());
    ASSERT_EQ(decoder.envelope().results().results_size(), 1);
    EXPECT_EQ(decoder.envelope().results().results(0).output(), "out");
    ASSERT_FALSE(decoder.decode(ack_bytes, 1 << 20).has_value());
    EXPECT_TRUE(decoder.envelope().has_ack());
  }
}

TEST(EnvelopeDecoder, RefusesWhatDecodeRefusesAfterAGoodBatch) {
  EnvelopeDecoder decoder;
  ASSERT_FALSE(decoder.decode(task_batch({1}, "t"), 1 << 20).has_value());
  EXPECT_EQ(decoder.decode("", 100), DecodeError::empty);
  EXPECT_EQ(decoder.decode(std::string(101, 'x'), 100), DecodeError::too_large);
  EXPECT_EQ(decoder.decode("\xff\xff\xff\xff", 100), DecodeError::malformed);
  // A batch tag right after the version, then bytes that end mid-field.
  std::string cut = task_batch({1, 2, 3}, "payload");
  cut.resize(cut.size() - 3);
  EXPECT_EQ(decoder.decode(cut, 1 << 20), DecodeError::malformed);
  // An end-group tag at the top level is not a message end.
  EXPECT_EQ(decoder.decode(task_batch({1}, "t") + "\x0c", 1 << 20), DecodeError::malformed);
  wire::Envelope old;
  old.set_version(99);
  old.mutable_tasks()->add_tasks()->set_seq(1);
  EXPECT_EQ(decoder.decode(old.SerializeAsString(), 1 << 20), DecodeError::version_mismatch);
  EXPECT_EQ(decoder.envelope().version(), 99u);
  wire::Envelope empty;
  empty.set_version(kProtocolVersion);
  EXPECT_EQ(decoder.decode(empty.SerializeAsString(), 100), DecodeError::no_body);
  // And a good batch still decodes afterwards.
  ASSERT_FALSE(decoder.decode(task_batch({5}, "t"), 1 << 20).has_value());
  EXPECT_EQ(decoder.envelope().tasks().tasks(0).seq(), 5u);
}

}  // namespace
}  // namespace conveyor
