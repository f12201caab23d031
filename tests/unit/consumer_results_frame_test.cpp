// consumer::Session's result batches, which it writes field by field (BatchWriter, write_report)
// instead of through libprotobuf: the bytes must be libprotobuf's own, for every field a consumer
// sends.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <set>
#include <string>
#include <vector>

#include "conveyor/common/codec.hpp"
#include "conveyor/consumer/session.hpp"
#include "unit/session_envelopes.hpp"

namespace conveyor::consumer {
namespace {

using namespace conveyor::testing;

SessionConfig test_config() {
  SessionConfig config;
  config.id = "c1";
  config.capacity = 64;
  config.broker = "tcp://broker:5556";
  return config;
}

// A report with every field set to a value that is not the default, and the Result libprotobuf
// would send for it.
Report every_field_set() {
  Report report;
  report.producer = "p1";
  report.seq = 300001;  // a varint of three bytes
  report.attempts = 202;
  report.status = wire::FAILED;
  report.output = "out";
  report.error = "err";
  report.retry = true;
  report.timed_out = true;
  report.lost = true;
  report.emit = {"", "emitted"};  // an empty element is still an element
  return report;
}

wire::Result as_result(const Report& report) {
  wire::Result result;
  result.set_producer(std::string(report.producer));
  result.set_seq(report.seq);
  result.set_attempts(report.attempts);
  result.set_status(report.status);
  result.set_output(report.output);
  result.set_error(report.error);
  result.set_retry(report.retry);
  result.set_timed_out(report.timed_out);
  result.set_lost(report.lost);
  for (const auto& emitted : report.emit)
    result.add_emit(emitted);
  return result;
}

TEST(ConsumerReport, EveryResultFieldIsWrittenOrTheBrokers) {
  const std::set<std::string> written = {"producer", "seq",   "status",    "output", "error",
                                         "attempts", "retry", "timed_out", "lost",   "emit"};
  const std::set<std::string> brokers = {"consumer", "id", "parent", "queue", "emitted"};  // B->P
  const auto* descriptor = wire::Result::descriptor();
  for (int i = 0; i < descriptor->field_count(); ++i) {
    const std::string name(descriptor->field(i)->name());
    EXPECT_TRUE(written.contains(name) || brokers.contains(name))
        << "Result." << name << " is new: a consumer sends it (consumer/report.hpp, write_report"
        << " and this test's as_result) or only the broker does (list it here)";
  }
}

class ConsumerResultsFrame : public ::testing::Test {
 protected:
  // Hands out one task per result and finishes them with `results`; flushes.
  void finish(std::vector<Report> results) {
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

  const Report report = every_field_set();
  finish({report});

  ASSERT_EQ(session.link().outbox().size(), 1u);
  const ToBroker& sent = session.link().outbox()[0];
  ASSERT_TRUE(sent.is_batch()) << "results go as a written frame";
  wire::Envelope expected;
  expected.set_version(kProtocolVersion);
  *expected.mutable_results()->add_results() = as_result(report);
  EXPECT_EQ(sent.frame(), expected.SerializeAsString());
}

TEST_F(ConsumerResultsFrame, SplitsAtAQuarterOfTheBrokersMessageLimitInOrder) {
  session.on_connect(kStart);
  wire::Envelope hello_welcome = welcome(100, 3, 4u << 20, 64 * 1024);  // batches of 16 KiB
  session.on_envelope(hello_welcome, kStart);
  session.link().outbox().clear();

  std::vector<Report> results(10);
  for (std::size_t i = 0; i < results.size(); ++i) {
    results[i].producer = "p1";
    results[i].seq = i;
    results[i].status = wire::OK;
    results[i].output = std::string(6 * 1024, 'a' + static_cast<char>(i));
  }
  finish(results);

  std::vector<std::uint64_t> seqs;
  const auto out = take_outbox(session);
  for (const auto& envelope : out) {
    ASSERT_TRUE(envelope.has_results());
    EXPECT_LE(envelope.results().results_size(), 3) << "16 KiB is reached by the third";
    for (const auto& sent : envelope.results().results()) {
      EXPECT_EQ(sent.output(), results[sent.seq()].output);
      seqs.push_back(sent.seq());
    }
  }
  EXPECT_EQ(out.size(), 4u);
  EXPECT_THAT(seqs, ::testing::ElementsAre(0u, 1u, 2u, 3u, 4u, 5u, 6u, 7u, 8u, 9u));
}

}  // namespace
}  // namespace conveyor::consumer
