// broker::Core: bad input is counted by kind, answered with an Error to its route, and never stops
// the broker from serving everyone else.
#include <gtest/gtest.h>

#include "conveyor/common/sockets.hpp"
#include "unit/broker_driver.hpp"

namespace conveyor::broker::testing {
namespace {

std::string encoded(wire::Envelope envelope) {
  zmq::message_t frame = encode(envelope);
  return std::string(frame.to_string_view());
}

// A producer and a consumer run three tasks through a broker to its drain: proof it still serves.
void expect_a_normal_run(BrokerDriver& b) {
  ASSERT_GE(b.connect_producer("good-p"), 3u);
  b.connect_consumer("good-c", 8);
  b.send_tasks("good-p", {0, 1, 2});
  b.send_pill("good-p", 3);
  auto tasks = b.flush_and_take_tasks("good-c");
  ASSERT_EQ(seqs_of(tasks), (std::vector<std::uint64_t>{0, 1, 2}));
  b.complete("good-c", tasks);
  b.flush();
  auto results = b.take_and_ack_results("good-p");
  EXPECT_EQ(seqs_of(results), (std::vector<std::uint64_t>{0, 1, 2}));
  b.flush();
  EXPECT_TRUE(b.core().drained());
  EXPECT_EQ(count_body(b.take_consumer("good-c"), wire::Envelope::kPill), 1u);
}

// Feeds `frames` on `side` and checks the one reply and the one count it must cause.
void expect_refused(BrokerDriver& b, Side side, const std::vector<std::string>& frames,
                    BadInput kind, wire::ErrorCode code, bool fatal = false) {
  const auto before = b.core().stats().bad_input;
  b.frames(side, "r-garbage", frames);
  auto errors = errors_in(b.take(side, "r-garbage"));
  ASSERT_EQ(errors.size(), 1u) << to_string(kind);
  EXPECT_EQ(errors[0].code(), code) << to_string(kind);
  EXPECT_EQ(errors[0].fatal(), fatal) << to_string(kind);
  EXPECT_FALSE(errors[0].text().empty());
  const auto after = b.core().stats().bad_input;
  for (std::size_t i = 0; i < after.size(); ++i) {
    const auto expected = before[i] + (i == static_cast<std::size_t>(kind) ? 1 : 0);
    EXPECT_EQ(after[i], expected) << "count of " << to_string(static_cast<BadInput>(i));
  }
  EXPECT_TRUE(b.take_all().empty()) << "the reply goes to the sender only";
}

TEST(BrokerCoreBadInput, ZeroFramesAfterTheRoutingIdIsMalformed) {
  BrokerDriver b;
  expect_refused(b, Side::frontend, {}, BadInput::frame_count, wire::MALFORMED);
  expect_a_normal_run(b);
}

TEST(BrokerCoreBadInput, TwoFramesAfterTheRoutingIdAreMalformed) {
  BrokerDriver b;
  const std::string hello_frame = encoded(hello(wire::PRODUCER, "p1"));
  expect_refused(b, Side::frontend, {hello_frame, hello_frame}, BadInput::frame_count,
                 wire::MALFORMED);
  EXPECT_EQ(b.core().producers_connected(), 0u) << "neither frame is taken as a hello";
  expect_a_normal_run(b);
}

TEST(BrokerCoreBadInput, EmptyFrameIsMalformed) {
  BrokerDriver b;
  expect_refused(b, Side::backend, {""}, BadInput::empty, wire::MALFORMED);
  expect_a_normal_run(b);
}

TEST(BrokerCoreBadInput, RandomBytesAreMalformed) {
  BrokerDriver b;
  expect_refused(b, Side::frontend, {std::string("\xff\xff\xff\xff\xff\xff", 6)},
                 BadInput::malformed, wire::MALFORMED);
  expect_refused(b, Side::backend, {std::string("\x0a\xff\xff\xff\xff\x0f", 6)},
                 BadInput::malformed, wire::MALFORMED);
  expect_a_normal_run(b);
}

TEST(BrokerCoreBadInput, TruncatedProtobufIsMalformed) {
  BrokerDriver b;
  const std::string whole = encoded(hello(wire::CONSUMER, "a-consumer-with-a-long-id", 4));
  expect_refused(b, Side::backend, {whole.substr(0, whole.size() - 5)}, BadInput::malformed,
                 wire::MALFORMED);
  EXPECT_EQ(b.core().consumers(), 0u);
  expect_a_normal_run(b);
}

TEST(BrokerCoreBadInput, WrongProtocolVersionIsAFatalVersionMismatch) {
  BrokerDriver b;
  wire::Envelope future = hello(wire::PRODUCER, "p1");
  future.set_version(kProtocolVersion + 1);
  expect_refused(b, Side::frontend, {future.SerializeAsString()}, BadInput::version_mismatch,
                 wire::VERSION_MISMATCH, /*fatal=*/true);
  EXPECT_EQ(b.core().producers_connected(), 0u);
  expect_a_normal_run(b);
}

TEST(BrokerCoreBadInput, EnvelopeWithoutABodyIsMalformed) {
  BrokerDriver b;
  wire::Envelope bodyless;
  bodyless.set_version(kProtocolVersion);
  expect_refused(b, Side::frontend, {bodyless.SerializeAsString()}, BadInput::no_body,
                 wire::MALFORMED);
  expect_a_normal_run(b);
}

TEST(BrokerCoreBadInput, MessageOverMaxMessageBytesIsTooLarge) {
  Config config = test_config();
  config.max_message_bytes = 2048;
  config.max_payload_bytes = 1000;
  BrokerDriver b(config);
  wire::Envelope big = task_batch({0}, std::string(3000, 'x'));
  expect_refused(b, Side::frontend, {encoded(big)}, BadInput::too_large, wire::TOO_LARGE);
  EXPECT_EQ(b.core().tasks_held(), 0u);
  expect_a_normal_run(b);
}

TEST(BrokerCoreBadInput, ValidEnvelopeThroughOnFramesIsServed) {
  BrokerDriver b;
  b.frames(Side::frontend, route_of("p1"), {encoded(hello(wire::PRODUCER, "p1"))});
  auto got = b.take_producer("p1");
  ASSERT_EQ(got.size(), 1u);
  EXPECT_TRUE(got[0].has_welcome());
  EXPECT_EQ(bad_total(b.core()), 0u);
}

TEST(BrokerCoreBadInput, GarbageFromAWelcomedPeerLeavesItsSessionIntact) {
  BrokerDriver b;
  b.connect_producer("p1");
  b.connect_consumer("c1", 4);
  b.frames(Side::frontend, route_of("p1"), {"not protobuf at all \xff"});
  b.frames(Side::backend, route_of("c1"), {""});
  EXPECT_EQ(errors_in(b.take_producer("p1")).size(), 1u);
  EXPECT_EQ(errors_in(b.take_consumer("c1")).size(), 1u);
  b.send_tasks("p1", {0});
  auto tasks = b.flush_and_take_tasks("c1");
  ASSERT_EQ(tasks.size(), 1u);
  b.complete("c1", tasks);
  b.flush();
  EXPECT_EQ(b.take_results("p1").size(), 1u);
}

TEST(BrokerCoreBadInput, EveryKindIsCountedSeparatelyAndTheBrokerKeepsServing) {
  Config config = test_config();
  config.max_message_bytes = 4096;
  config.max_payload_bytes = 1000;
  BrokerDriver b(config);
  wire::Envelope old = heartbeat();
  old.set_version(0);
  wire::Envelope bodyless;
  bodyless.set_version(kProtocolVersion);
  for (int round = 0; round < 3; ++round) {
    for (const Side side : {Side::frontend, Side::backend}) {
      b.frames(side, "r-spray", {});
      b.frames(side, "r-spray", {"a", "b", "c"});
      b.frames(side, "r-spray", {""});
      b.frames(side, "r-spray", {"\xff\xff\xff"});
      b.frames(side, "r-spray", {old.SerializeAsString()});
      b.frames(side, "r-spray", {bodyless.SerializeAsString()});
      b.frames(side, "r-spray", {std::string(4097, 'x')});
    }
  }
  EXPECT_EQ(bad(b.core(), BadInput::frame_count), 12u);
  EXPECT_EQ(bad(b.core(), BadInput::empty), 6u);
  EXPECT_EQ(bad(b.core(), BadInput::malformed), 6u);
  EXPECT_EQ(bad(b.core(), BadInput::version_mismatch), 6u);
  EXPECT_EQ(bad(b.core(), BadInput::no_body), 6u);
  EXPECT_EQ(bad(b.core(), BadInput::too_large), 6u);
  EXPECT_EQ(bad_total(b.core()), 42u);
  EXPECT_EQ(errors_in(b.take(Side::frontend, "r-spray")).size(), 21u);
  EXPECT_EQ(errors_in(b.take(Side::backend, "r-spray")).size(), 21u);
  expect_a_normal_run(b);
}

TEST(BrokerCoreBadInput, ProducerSendingResultsIsABadRequest) {
  BrokerDriver b;
  b.connect_producer("p1");
  b.to_frontend(route_of("p1"), result_batch({result("p1", 0)}));
  auto errors = errors_in(b.take_producer("p1"));
  ASSERT_EQ(errors.size(), 1u);
  EXPECT_EQ(errors[0].code(), wire::BAD_REQUEST);
  EXPECT_FALSE(errors[0].fatal());
  EXPECT_EQ(bad(b.core(), BadInput::bad_request), 1u);
  EXPECT_EQ(b.core().stats().ok, 0u);
  EXPECT_EQ(b.core().producers_connected(), 1u);
}

TEST(BrokerCoreBadInput, ProducerSendingCreditOrWelcomeIsABadRequest) {
  BrokerDriver b;
  b.connect_producer("p1");
  b.to_frontend(route_of("p1"), consumer_credit(5));
  wire::Envelope welcome;
  welcome.mutable_welcome();
  b.to_frontend(route_of("p1"), welcome);
  auto errors = errors_in(b.take_producer("p1"));
  ASSERT_EQ(errors.size(), 2u);
  EXPECT_EQ(errors[0].code(), wire::BAD_REQUEST);
  EXPECT_EQ(errors[1].code(), wire::BAD_REQUEST);
  EXPECT_EQ(bad(b.core(), BadInput::bad_request), 2u);
}

TEST(BrokerCoreBadInput, ConsumerSendingTasksIsABadRequest) {
  BrokerDriver b;
  b.connect_consumer("c1", 4);
  b.to_backend(route_of("c1"), task_batch({0, 1}));
  auto errors = errors_in(b.take_consumer("c1"));
  ASSERT_EQ(errors.size(), 1u);
  EXPECT_EQ(errors[0].code(), wire::BAD_REQUEST);
  EXPECT_EQ(bad(b.core(), BadInput::bad_request), 1u);
  EXPECT_EQ(b.core().tasks_held(), 0u);
  EXPECT_EQ(b.core().stats().tasks_received, 0u);
}

TEST(BrokerCoreBadInput, ConsumerSendingPillOrAckIsABadRequest) {
  BrokerDriver b;
  b.connect_producer("p1");
  b.connect_consumer("c1", 4);
  b.to_backend(route_of("c1"), pill(0));
  b.to_backend(route_of("c1"), ack({0}));
  auto errors = errors_in(b.take_consumer("c1"));
  ASSERT_EQ(errors.size(), 2u);
  EXPECT_EQ(errors[0].code(), wire::BAD_REQUEST);
  EXPECT_EQ(errors[1].code(), wire::BAD_REQUEST);
  b.flush();
  EXPECT_FALSE(b.core().drained()) << "a consumer's pill is not a producer's";
}

TEST(BrokerCoreBadInput, BatchOverMaxBatchTasksIsRejectedAsTooLarge) {
  Config config = test_config();
  config.max_batch_tasks = 3;
  BrokerDriver b(config);
  b.connect_producer("p1");
  b.send_tasks("p1", {0, 1, 2, 3});
  auto errors = errors_in(b.take_producer("p1"));
  ASSERT_EQ(errors.size(), 1u);
  EXPECT_EQ(errors[0].code(), wire::TOO_LARGE);
  EXPECT_EQ(rejected_seqs(errors[0]), (std::vector<std::uint64_t>{0, 1, 2, 3}));
  EXPECT_EQ(b.core().tasks_held(), 0u);
  EXPECT_EQ(b.core().stats().rejected_tasks, 4u);
  b.send_tasks("p1", {0, 1, 2});
  EXPECT_TRUE(b.take_producer("p1").empty());
  EXPECT_EQ(b.core().tasks_held(), 3u);
}

TEST(BrokerCoreBadInput, PayloadOverMaxPayloadBytesIsFinalFailedWithoutAConsumer) {
  Config config = test_config();
  config.max_payload_bytes = 100;
  BrokerDriver b(config);
  b.connect_producer("p1");
  b.connect_consumer("c1", 4);
  b.to_frontend(route_of("p1"), task_batch({0}, std::string(101, 'x')));
  b.send_tasks("p1", {1});
  b.flush();
  EXPECT_EQ(seqs_of(b.take_tasks("c1")), (std::vector<std::uint64_t>{1}));
  auto results = b.take_results("p1");
  ASSERT_EQ(results.size(), 1u);
  EXPECT_EQ(results[0].seq(), 0u);
  EXPECT_EQ(results[0].status(), wire::FAILED);
  EXPECT_NE(results[0].error().find("max-payload-bytes"), std::string::npos);
  EXPECT_EQ(b.core().stats().failed, 1u);
  EXPECT_EQ(b.core().stats().tasks_received, 2u);
}

// Sent again before its result is acknowledged (a reconnect), an oversized task is a duplicate
// like any other: one result, counted once.
TEST(BrokerCoreBadInput, AnOversizedTaskSentAgainIsADuplicate) {
  Config config = test_config();
  config.max_payload_bytes = 100;
  BrokerDriver b(config);
  b.connect_producer("p1");
  b.to_frontend(route_of("p1"), task_batch({0}, std::string(101, 'x')));
  b.to_frontend(route_of("p1"), task_batch({0}, std::string(101, 'x')));
  b.flush();
  EXPECT_EQ(b.take_results("p1").size(), 1u);
  EXPECT_EQ(b.core().stats().duplicate_tasks, 1u);
  EXPECT_EQ(b.core().stats().tasks_received, 1u);
  EXPECT_EQ(b.core().tasks_held(), 0u);
}

}  // namespace
}  // namespace conveyor::broker::testing
