// The results file: the exact JSON line per result, proved valid by parsing it back.
#include "conveyor/producer/results_file.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

namespace conveyor::producer {
namespace {

using ::testing::HasSubstr;
using json = nlohmann::json;

wire::Result make_result(std::uint64_t seq, wire::Status status, std::string output,
                         std::string error = {}, std::string consumer = "c2",
                         std::uint32_t attempts = 1) {
  wire::Result result;
  result.set_seq(seq);
  result.set_status(status);
  result.set_output(std::move(output));
  result.set_error(std::move(error));
  result.set_consumer(std::move(consumer));
  result.set_attempts(attempts);
  return result;
}

// The line for a parsed result (the producer writes views of results; view_of makes one).
std::string format_result_line(const std::string& producer_id, const wire::Result& result) {
  return producer::format_result_line(producer_id, view_of(result));
}

TEST(ResultsFile, FormatsAnOkResultExactly) {
  EXPECT_EQ(
      format_result_line("p1", make_result(41, wire::OK, "hello")),
      R"({"id":"p1:41","seq":41,"status":"ok","output":"hello","consumer":"c2","attempts":1})");
}

TEST(ResultsFile, FormatsAFailedResultWithItsError) {
  EXPECT_EQ(
      format_result_line("p1", make_result(3, wire::FAILED, "", "exit status 2: boom", "c1", 2)),
      R"({"id":"p1:3","seq":3,"status":"failed","output":"","error":"exit status 2: boom",)"
      R"("consumer":"c1","attempts":2})");
}

TEST(ResultsFile, FormatsADeadResultWithItsError) {
  EXPECT_EQ(format_result_line("p9", make_result(5, wire::DEAD, "", "lost 3 times", "", 3)),
            R"({"id":"p9:5","seq":5,"status":"dead","output":"","error":"lost 3 times",)"
            R"("consumer":"","attempts":3})");
}

TEST(ResultsFile, WritesOutputThatIsNotUtf8AsBase64) {
  const std::string bytes("\xff\xfe\x00", 3);
  EXPECT_EQ(format_result_line("p1", make_result(0, wire::OK, bytes)),
            R"({"id":"p1:0","seq":0,"status":"ok","output":"//4A","encoding":"base64",)"
            R"("consumer":"c2","attempts":1})");
}

TEST(ResultsFile, KeepsUtf8OutputAsText) {
  const std::string text = "caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x9a\x80";
  const json parsed = json::parse(format_result_line("p1", make_result(1, wire::OK, text)));
  EXPECT_EQ(parsed["output"], text);
  EXPECT_FALSE(parsed.contains("encoding"));
}

TEST(ResultsFile, EscapesQuotesBackslashesNewlinesAndControlCharacters) {
  const std::string output = "say \"hi\"\n\tC:\\dir\r\x01\x1f\x7f";
  const std::string line = format_result_line("p1", make_result(2, wire::OK, output));
  EXPECT_THAT(line, HasSubstr(R"("output":"say \"hi\"\n\tC:\\dir\r\u0001\u001f)"
                              "\x7f"
                              R"(")"));
  EXPECT_EQ(line.find('\n'), std::string::npos) << "one result, one line";
  EXPECT_EQ(json::parse(line)["output"], output);
}

TEST(ResultsFile, EscapesErrorTextToo) {
  const std::string line =
      format_result_line("p1", make_result(2, wire::FAILED, "", "line one\nline \"two\""));
  EXPECT_EQ(json::parse(line)["error"], "line one\nline \"two\"");
}

TEST(ResultsFile, KeepsAnErrorTextThatIsNotUtf8ReadAsLatin1) {
  const std::string line = format_result_line("p1", make_result(2, wire::FAILED, "", "bad \xff"));
  EXPECT_EQ(json::parse(line)["error"], "bad \xc3\xbf");
}

TEST(ResultsFile, EveryLineParsesBackToTheSameFields) {
  const std::string binary("\x00\x80\xff", 3);
  for (const auto& result : {make_result(7, wire::OK, "plain"), make_result(8, wire::OK, binary),
                             make_result(9, wire::FAILED, "partial", "why", "c3", 4)}) {
    const json parsed = json::parse(format_result_line("prod.A-1", result));
    EXPECT_EQ(parsed["id"], "prod.A-1:" + std::to_string(result.seq()));
    EXPECT_EQ(parsed["seq"], result.seq());
    EXPECT_EQ(parsed["consumer"], result.consumer());
    EXPECT_EQ(parsed["attempts"], result.attempts());
    EXPECT_EQ(parsed.contains("error"), result.status() != wire::OK);
  }
}

// ResultLines keeps the ids it escaped for the next lines: a line after a change of producer or
// consumer (one that needs escapes among them) is still the line format_result_line() writes.
TEST(ResultsFile, LinesInARowEachNameTheirOwnProducerAndConsumer) {
  const std::vector<std::pair<std::string, std::string>> ids = {
      {"p1", "c1"}, {"p1", "c1"}, {"p1", "c\"2"}, {"p1", "c1"}, {"p2", "c1"}, {"p1", ""}};
  ResultLines lines;
  std::string written;
  std::string expected;
  std::uint64_t seq = 0;
  for (const auto& [producer, consumer] : ids) {
    const wire::Result result = make_result(seq++, wire::OK, "out", "", consumer);
    lines.append(written, producer, view_of(result));
    written += '\n';
    expected += format_result_line(producer, result) + "\n";
  }
  EXPECT_EQ(written, expected);
  EXPECT_THAT(written, HasSubstr("\"consumer\":\"c\\\"2\""));
}

class ResultsFileOnDisk : public ::testing::Test {
 protected:
  ResultsFileOnDisk() {
    dir_ = std::filesystem::temp_directory_path() /
           ("conveyor-results-test-" + std::to_string(::getpid()));
    std::filesystem::create_directories(dir_);
  }
  ~ResultsFileOnDisk() override { std::filesystem::remove_all(dir_); }
  std::string path(const std::string& name) const { return (dir_ / name).string(); }
  static std::string read(const std::string& file) {
    std::ifstream in(file, std::ios::binary);
    std::stringstream text;
    text << in.rdbuf();
    return text.str();
  }

  std::filesystem::path dir_;
};

TEST_F(ResultsFileOnDisk, WritesOneLinePerResultInOrder) {
  const std::string file = path("results.jsonl");
  ResultsFile results(file);
  results.write("p1", view_of(make_result(1, wire::OK, "a")));
  results.write("p1", view_of(make_result(0, wire::FAILED, "", "e")));
  results.flush();
  EXPECT_EQ(read(file), format_result_line("p1", make_result(1, wire::OK, "a")) + "\n" +
                            format_result_line("p1", make_result(0, wire::FAILED, "", "e")) + "\n");
}

// Lines are handed to stdio in blocks: more than a block's worth, then a few more, all reach the
// file in order by flush().
TEST_F(ResultsFileOnDisk, ManyLinesReachTheFileInOrderByFlush) {
  const std::string file = path("many.jsonl");
  ResultsFile results(file);
  std::string expected;
  for (std::uint64_t seq = 0; seq < 3000; ++seq) {
    const wire::Result result = make_result(seq, wire::OK, std::string(40, 'x'));
    results.write("p1", view_of(result));
    expected += format_result_line("p1", result) + "\n";
  }
  results.flush();
  EXPECT_GT(expected.size(), std::size_t{64} << 10) << "more than one block";
  EXPECT_EQ(read(file), expected);
}

TEST_F(ResultsFileOnDisk, AnEmptyPathWritesNothing) {
  ResultsFile results("");
  results.write("p1", view_of(make_result(1, wire::OK, "a")));
  EXPECT_NO_THROW(results.flush());
  EXPECT_TRUE(std::filesystem::is_empty(dir_));
}

TEST_F(ResultsFileOnDisk, ThrowsNamingThePathWhenItCannotBeOpened) {
  const std::string file = path("missing-dir/results.jsonl");
  try {
    ResultsFile results(file);
    FAIL() << "no exception";
  } catch (const std::runtime_error& e) {
    EXPECT_THAT(e.what(), HasSubstr(file));
  }
}

}  // namespace
}  // namespace conveyor::producer
