// The pipe: protocol's lines (DESIGN.md §7.3): what a worker is given, and what it may answer.
#include "conveyor/consumer/pipe_protocol.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

namespace conveyor::consumer {
namespace {

using nlohmann::json;
using ::testing::HasSubstr;

wire::Task task(const std::string& payload) {
  wire::Task t;
  t.set_producer("p1");
  t.set_seq(41);
  t.set_attempt(2);
  t.set_payload(payload);
  return t;
}

json line_of(const wire::Task& t) {
  std::string line;
  append_task_line(line, Delivery::view_of(t));
  EXPECT_EQ(line.back(), '\n');
  EXPECT_EQ(line.find('\n'), line.size() - 1) << "one line, whatever the payload";
  return json::parse(line);
}

TEST(PipeProtocol, ATaskLineHasItsIdSeqAttemptAndPayload) {
  const json j = line_of(task("héllo \"world\"\nline two"));
  EXPECT_EQ(j.at("id"), "p1:41");
  EXPECT_EQ(j.at("seq"), 41);
  EXPECT_EQ(j.at("attempt"), 2);
  EXPECT_EQ(j.at("payload"), "héllo \"world\"\nline two");
  EXPECT_FALSE(j.contains("encoding"));
  EXPECT_FALSE(j.contains("headers"));
}

TEST(PipeProtocol, APayloadThatIsNotUtf8GoesAsBase64) {
  const json j = line_of(task(std::string("\x00\xff\x80", 3)));
  EXPECT_EQ(j.at("encoding"), "base64");
  EXPECT_EQ(j.at("payload"), "AP+A");
}

TEST(PipeProtocol, HeadersGoAsAnObject) {
  wire::Task t = task("x");
  auto* h = t.add_headers();
  h->set_key("trace");
  h->set_value("abc");
  EXPECT_EQ(line_of(t).at("headers"), json({{"trace", "abc"}}));
}

TEST(PipeProtocol, AnOutputIsAnOkResult) {
  const auto answer = parse_answer_line(R"({"id":"p1:41","output":"done"})");
  ASSERT_TRUE(answer) << answer.error();
  EXPECT_EQ(answer->id, "p1:41");
  EXPECT_EQ(answer->result.status, wire::OK);
  EXPECT_EQ(answer->result.output, "done");
}

TEST(PipeProtocol, ABase64OutputIsDecoded) {
  const auto answer = parse_answer_line(R"({"id":"a","output":"AP+A","encoding":"base64"})");
  ASSERT_TRUE(answer) << answer.error();
  EXPECT_EQ(answer->result.output, std::string("\x00\xff\x80", 3));
}

TEST(PipeProtocol, AnErrorIsAFailureThatMayAskForARetry) {
  auto answer = parse_answer_line(R"({"id":"a","error":"busy","retry":true})");
  ASSERT_TRUE(answer) << answer.error();
  EXPECT_EQ(answer->result.status, wire::FAILED);
  EXPECT_EQ(answer->result.error, "busy");
  EXPECT_TRUE(answer->result.retry);
  answer = parse_answer_line(R"({"id":"a","error":"no"})");
  ASSERT_TRUE(answer);
  EXPECT_FALSE(answer->result.retry);
}

TEST(PipeProtocol, EmittedTasksComeWithTheAnswer) {
  const auto answer = parse_answer_line(
      R"({"id":"a","output":"","emit":[{"payload":"x"},{"payload":"AA==","encoding":"base64"}]})");
  ASSERT_TRUE(answer) << answer.error();
  EXPECT_EQ(answer->result.emit, (std::vector<std::string>{"x", std::string(1, '\0')}));
}

TEST(PipeProtocol, LinesThatAreNotAnswersAreRefusedWithTheReason) {
  const std::vector<std::pair<std::string, std::string>> bad = {
      {"hello", "not a JSON object"},
      {"[1,2]", "not a JSON object"},
      {R"({"output":"x"})", "no \"id\""},
      {R"({"id":"a"})", "neither"},
      {R"({"id":"a","error":"x","retry":"yes"})", "retry"},
      {R"({"id":"a","output":"%%","encoding":"base64"})", "output"},
      {R"({"id":"a","output":"x","emit":"y"})", "emit"},
      {R"({"id":"a","output":"x","emit":[{"nope":1}]})", "payload"},
  };
  for (const auto& [line, reason] : bad) {
    const auto answer = parse_answer_line(line);
    ASSERT_FALSE(answer) << line;
    EXPECT_THAT(answer.error(), HasSubstr(reason)) << line;
  }
}

}  // namespace
}  // namespace conveyor::consumer
