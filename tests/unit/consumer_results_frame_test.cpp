// consumer::Session's result batches, which it writes field by field (BatchWriter) instead of
// through libprotobuf: the bytes must be libprotobuf's own, for every field a Result has.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <google/protobuf/descriptor.h>
#include <google/protobuf/reflection.h>

#include <string>
#include <vector>

#include "conveyor/common/codec.hpp"
#include "conveyor/consumer/session.hpp"
#include "unit/session_envelopes.hpp"

namespace conveyor::consumer {
namespace {

using namespace conveyor::testing;
using google::protobuf::FieldDescriptor;

SessionConfig test_config() {
  SessionConfig config;
  config.id = "c1";
  config.capacity = 64;
  config.broker = "tcp://broker:5556";
  return config;
}

// A Result with every field its descriptor lists set to a value that is not the default, found by
// reflection: a field added to the proto later is covered without touching this test.
wire::Result every_field_set() {
  wire::Result result;
  const auto* reflection = result.GetReflection();
  const auto* descriptor = result.GetDescriptor();
  for (int i = 0; i < descriptor->field_count(); ++i) {
    const FieldDescriptor* field = descriptor->field(i);
    const int n = field->number();
    if (field->is_repeated()) {
      EXPECT_EQ(field->type(), FieldDescriptor::TYPE_BYTES) << field->name() << ": set it here";
      reflection->AddString(&result, field, "");  // an empty element is still an element
      reflection->AddString(&result, field, "emitted-" + std::to_string(n));
      continue;
    }
    switch (field->cpp_type()) {
      case FieldDescriptor::CPPTYPE_STRING:
        reflection->SetString(&result, field, "field-" + std::to_string(n));
        break;
      case FieldDescriptor::CPPTYPE_UINT64:
        reflection->SetUInt64(&result, field, 300000u + n);  // a varint of three bytes
        break;
      case FieldDescriptor::CPPTYPE_UINT32:
        reflection->SetUInt32(&result, field, 200u + n);
        break;
      case FieldDescriptor::CPPTYPE_BOOL:
        reflection->SetBool(&result, field, true);
        break;
      case FieldDescriptor::CPPTYPE_ENUM:
        reflection->SetEnumValue(&result, field, wire::FAILED);
        break;
      default:
        ADD_FAILURE() << field->name() << ": a field type this test does not set";
    }
  }
  return result;
}

class ConsumerResultsFrame : public ::testing::Test {
 protected:
  // Hands out one task per result and finishes them with `results`; flushes.
  void finish(std::vector<wire::Result> results) {
    std::vector<std::uint64_t> seqs;
    for (std::size_t i = 0; i < results.size(); ++i)
      seqs.push_back(i);
    wire::Envelope batch = tasks("p1", seqs);
    session.on_envelope(batch, kStart);
    const Work work = session.take_work(results.size());
    ASSERT_EQ(work.tasks.size(), results.size());
    session.on_done(work.id, results);
    session.flush(kStart);
  }

  Session session{test_config(), kStart};
};

TEST_F(ConsumerResultsFrame, IsLibprotobufsEncodingOfEveryResultField) {
  session.on_connect(kStart);
  wire::Envelope hello_welcome = welcome();
  session.on_envelope(hello_welcome, kStart);
  session.link().outbox().clear();

  const wire::Result result = every_field_set();
  finish({result});

  ASSERT_EQ(session.link().outbox().size(), 1u);
  const ToBroker& sent = session.link().outbox()[0];
  ASSERT_FALSE(sent.frame.empty()) << "results go as a written frame";
  wire::Envelope expected;
  expected.set_version(kProtocolVersion);
  *expected.mutable_results()->add_results() = result;
  EXPECT_EQ(sent.frame, expected.SerializeAsString());
}

TEST_F(ConsumerResultsFrame, SplitsAtAQuarterOfTheBrokersMessageLimitInOrder) {
  session.on_connect(kStart);
  wire::Envelope hello_welcome = welcome(100, 3, 4u << 20, 64 * 1024);  // batches of 16 KiB
  session.on_envelope(hello_welcome, kStart);
  session.link().outbox().clear();

  std::vector<wire::Result> results(10);
  for (std::size_t i = 0; i < results.size(); ++i) {
    results[i].set_producer("p1");
    results[i].set_seq(i);
    results[i].set_status(wire::OK);
    results[i].set_output(std::string(6 * 1024, 'a' + static_cast<char>(i)));
  }
  finish(results);

  std::vector<std::uint64_t> seqs;
  const auto out = take_outbox(session);
  for (const auto& envelope : out) {
    ASSERT_TRUE(envelope.has_results());
    EXPECT_LE(envelope.results().results_size(), 3) << "16 KiB is reached by the third";
    for (const auto& sent : envelope.results().results()) {
      EXPECT_EQ(sent.output(), results[sent.seq()].output());
      seqs.push_back(sent.seq());
    }
  }
  EXPECT_EQ(out.size(), 4u);
  EXPECT_THAT(seqs, ::testing::ElementsAre(0u, 1u, 2u, 3u, 4u, 5u, 6u, 7u, 8u, 9u));
}

}  // namespace
}  // namespace conveyor::consumer
