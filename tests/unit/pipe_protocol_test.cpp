// The pipe: protocol's lines (DESIGN.md §7.3): what a worker is given, and what it may answer.
#include "conveyor/consumer/pipe_protocol.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <random>
#include <string>
#include <vector>

#include "conveyor/common/text.hpp"
#include "unit/mutation.hpp"

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

TEST(PipeProtocol, ATaskLinesIdIsTheEmittedTasksOwnOrItsProducerAndSeqEscaped) {
  wire::Task emitted = task("x");
  emitted.set_id("p1:7/0");
  EXPECT_EQ(line_of(emitted).at("id"), "p1:7/0");
  wire::Task quoted = task("x");
  quoted.set_producer("p\"1\\");
  quoted.set_seq(18446744073709551615u);
  quoted.set_attempt(4294967295u);
  const json j = line_of(quoted);
  EXPECT_EQ(j.at("id"), "p\"1\\:18446744073709551615");
  EXPECT_EQ(j.at("seq"), 18446744073709551615u);
  EXPECT_EQ(j.at("attempt"), 4294967295u);
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

// The answer most workers write is read without a JSON document (plain_answer_line); whatever it
// takes, nlohmann reads the same: an object with that id, that output and no error.
bool plain_agrees_with_nlohmann(const std::string& line) {
  const auto plain = plain_answer_line(line);
  if (!plain) return false;
  const json parsed = json::parse(line, nullptr, false);
  EXPECT_TRUE(parsed.is_object()) << line;
  if (!parsed.is_object()) return true;
  EXPECT_EQ(parsed.value("id", json()), plain->id) << line;
  EXPECT_FALSE(parsed.contains("error")) << line;
  EXPECT_FALSE(parsed.contains("emit")) << line;
  EXPECT_EQ(plain->result.status, wire::OK);
  const json output = parsed.value("output", json());
  EXPECT_TRUE(output.is_string()) << line;
  if (!output.is_string()) return true;
  if (!parsed.contains("encoding")) {
    EXPECT_EQ(output.get<std::string>(), plain->result.output) << line;
  } else {
    EXPECT_EQ(parsed["encoding"], "base64") << line;
    EXPECT_EQ(base64_decode(output.get<std::string>()), plain->result.output) << line;
  }
  return true;
}

TEST(PipeProtocol, PlainAnswersAreReadInPlaceAndAgreeWithTheDocument) {
  for (const std::string line :
       {R"({"id":"p1:41","output":"done"})", R"({ "output" : "a\"b\u00e9" , "id" : "x" })",
        R"({"id":"a","output":"AP+A","encoding":"base64"})", R"({"id":"a","output":""})"}) {
    EXPECT_TRUE(plain_agrees_with_nlohmann(line)) << line;
  }
  EXPECT_EQ(plain_answer_line(R"({"id":"a","output":"AP+A","encoding":"base64"})")->result.output,
            std::string("\x00\xff\x80", 3));
  // Left to the document: errors, emits, members of the worker's own, twice the same key, base64
  // that does not decode, anything after the object.
  for (const std::string line :
       {R"({"id":"a","error":"no"})", R"({"id":"a","output":"x","emit":[]})",
        R"({"id":"a","output":"x","took_ms":"3"})", R"({"id":"a","id":"b","output":"x"})",
        R"({"id":"a","output":"%%","encoding":"base64"})",
        R"({"id":"a","output":"x","encoding":"hex"})", R"({"id":"a","output":"x"} {})",
        R"({"id":"a"})", R"({"output":"x"})", "hello"}) {
    EXPECT_FALSE(plain_answer_line(line)) << line;
  }
}

TEST(PipeProtocol, MutatedAnswersAreReadInPlaceOnlyIfTheDocumentAgrees) {
  const std::vector<std::string> shapes = {R"({"id":"p1:7","output":"done \"quoted\" \u00e9"})",
                                           R"({"id":"p1:8","output":"AP+A","encoding":"base64"})",
                                           R"({"id":"p1:9","error":"no","retry":true})"};
  std::mt19937_64 random(11);
  int taken = 0;
  int refused = 0;
  for (int round = 0; round < 20000; ++round) {
    std::string line = shapes[random() % shapes.size()];
    for (int edits = static_cast<int>(random() % 3); edits > 0; --edits)
      mutate_once(line, random, 128);
    (plain_agrees_with_nlohmann(line) ? taken : refused) += 1;
  }
  EXPECT_GT(taken, 2000);
  EXPECT_GT(refused, 2000);
}

}  // namespace
}  // namespace conveyor::consumer
