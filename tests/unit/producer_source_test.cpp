// Sources: lines of a file, the generator, callbacks, and --source parsing.
#include "conveyor/producer/source.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <future>
#include <stdexcept>
#include <string>
#include <vector>

namespace conveyor::producer {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;

// A file with `content` in a fresh temporary directory, removed with the object.
class TempFile {
 public:
  explicit TempFile(const std::string& content) {
    static int counter = 0;
    dir_ = std::filesystem::temp_directory_path() /
           ("conveyor-source-test-" + std::to_string(::getpid()) + "-" + std::to_string(++counter));
    std::filesystem::create_directories(dir_);
    std::ofstream(path(), std::ios::binary) << content;
  }
  ~TempFile() { std::filesystem::remove_all(dir_); }
  std::string path() const { return (dir_ / "input.txt").string(); }

 private:
  std::filesystem::path dir_;
};

// A pipe; a lines source reads it through /dev/fd/N.
class Pipe {
 public:
  Pipe() {
    if (::pipe(fds_) != 0) throw std::runtime_error("pipe");
  }
  ~Pipe() {
    ::close(fds_[0]);
    ::close(fds_[1]);
  }
  std::string read_path() const { return "/dev/fd/" + std::to_string(fds_[0]); }
  bool write(const std::string& text) {
    return ::write(fds_[1], text.data(), text.size()) == static_cast<ssize_t>(text.size());
  }

 private:
  int fds_[2] = {-1, -1};
};

std::vector<std::string> read_all(Source& source) {
  std::vector<std::string> payloads;
  while (auto payload = source.next())
    payloads.push_back(std::move(*payload));
  return payloads;
}

std::vector<std::string> lines_of(const std::string& content) {
  TempFile file(content);
  auto source = lines_source(file.path());
  return read_all(*source);
}

// The message make_source throws for `spec`, or "" when it does not throw.
std::string make_source_error(const std::string& spec) {
  try {
    make_source(spec);
  } catch (const std::invalid_argument& e) {
    return e.what();
  }
  return "";
}

TEST(JsonLinesSource, GivesEachLinesPayloadTextOrBase64Bytes) {
  TempFile file("{\"payload\":\"two\\nlines\"}\n{\"payload\":\"AP8=\",\"encoding\":\"base64\"}\n");
  auto source = make_source("jsonl:" + file.path());
  EXPECT_EQ(read_all(*source), (std::vector<std::string>{"two\nlines", std::string("\0\xff", 2)}));
}

TEST(JsonLinesSource, ALineThatIsNotATaskFailsTheSourceNamingTheLine) {
  TempFile file("{\"payload\":\"ok\"}\nnot json\n");
  auto source = make_source("jsonl:" + file.path());
  EXPECT_EQ(source->next(), std::optional<std::string>("ok"));
  try {
    source->next();
    FAIL() << "a bad line";
  } catch (const std::exception& e) {
    EXPECT_NE(std::string(e.what()).find("jsonl: line 2"), std::string::npos) << e.what();
  }
}

// The plain lines are read without nlohmann (PayloadLineReader), the others with it: errors are
// the same either way, and name the line.
TEST(JsonLinesSource, ErrorsNameTheLineWhicheverWayItWasRead) {
  const auto error_of = [](const std::string& content) -> std::string {
    TempFile file(content);
    auto source = make_source("jsonl:" + file.path());
    try {
      while (source->next()) {
      }
    } catch (const std::exception& e) {
      return e.what();
    }
    return "";
  };
  EXPECT_THAT(error_of("{\"payload\":\"a\"}\n{\"payload\":\"!!\",\"encoding\":\"base64\"}\n"),
              HasSubstr("jsonl: line 2: \"payload\" is not base64"));
  EXPECT_THAT(error_of("{\"payload\":\"a\",\"encoding\":\"hex\"}\n"),
              HasSubstr("jsonl: line 1: \"encoding\" is not \"base64\""));
  EXPECT_THAT(error_of("{\"payload\":7}\n"), HasSubstr("jsonl: line 1: "));
}

TEST(JsonLinesSource, NextIntoGivesWhatNextGivesReadInPlaceOrNot) {
  const std::string content =
      "{\"payload\":\"plain\"}\n{\"payload\":\"AP8=\",\"encoding\":\"base64\"}\n"
      "{\"payload\":\"kept\",\"n\":1}\n{\"payload\":\"x\",\"payload\":\"last\"}\n";
  TempFile file(content);
  auto by_next = make_source("jsonl:" + file.path());
  auto by_into = make_source("jsonl:" + file.path());
  std::vector<std::string> into;
  for (std::string payload = "old"; by_into->next_into(payload);)
    into.push_back(payload);
  EXPECT_EQ(read_all(*by_next), into);
  EXPECT_THAT(into, ElementsAre("plain", std::string("\0\xff", 2), "kept", "last"));
}

TEST(LinesSource, NextIntoReplacesTheBuffersContent) {
  TempFile file("first line that is long enough to be on the heap\nb\r\nlast");
  auto source = lines_source(file.path());
  std::vector<std::string> got;
  for (std::string line = "old content"; source->next_into(line);)
    got.push_back(line);
  EXPECT_THAT(got, ElementsAre("first line that is long enough to be on the heap", "b", "last"));
}

TEST(LinesSource, GivesOnePayloadPerLineWithoutItsNewline) {
  EXPECT_THAT(lines_of("alpha\nbeta\ngamma\n"), ElementsAre("alpha", "beta", "gamma"));
}

TEST(LinesSource, StripsTheCarriageReturnOfCrlfEndings) {
  EXPECT_THAT(lines_of("alpha\r\nbeta\r\n"), ElementsAre("alpha", "beta"));
}

TEST(LinesSource, KeepsACarriageReturnInsideALine) {
  EXPECT_THAT(lines_of("a\rb\n"), ElementsAre("a\rb"));
}

TEST(LinesSource, KeepsEmptyLinesSoSeqIsTheLineNumber) {
  EXPECT_THAT(lines_of("zero\n\n\nthree\r\n\r\nfive\n"),
              ElementsAre("zero", "", "", "three", "", "five"));
}

TEST(LinesSource, GivesTheLastLineEvenWithoutANewline) {
  EXPECT_THAT(lines_of("first\nlast"), ElementsAre("first", "last"));
  EXPECT_THAT(lines_of("first\r\nlast\r"), ElementsAre("first", "last"));
}

TEST(LinesSource, AnEmptyFileGivesNothing) {
  EXPECT_THAT(lines_of(""), IsEmpty());
}

TEST(LinesSource, AFileOfOneNewlineIsOneEmptyLine) {
  EXPECT_THAT(lines_of("\n"), ElementsAre(""));
}

TEST(LinesSource, StaysExhaustedAfterTheEnd) {
  TempFile file("only\n");
  auto source = lines_source(file.path());
  EXPECT_EQ(source->next(), "only");
  EXPECT_EQ(source->next(), std::nullopt);
  EXPECT_EQ(source->next(), std::nullopt);
}

TEST(LinesSource, ReadsLargeFilesAcrossTheBufferBoundary) {
  // Many short lines, a line longer than the 64 KiB read buffer, and CRLF endings throughout.
  std::vector<std::string> expected;
  std::string content;
  for (int i = 0; i < 30000; ++i) {
    expected.push_back("line-" + std::to_string(i));
    if (i == 12345) expected.back() = std::string(200000, 'L');
    content += expected.back() + (i % 2 ? "\r\n" : "\n");
  }
  EXPECT_EQ(lines_of(content), expected);
}

TEST(LinesSource, StripsACarriageReturnSplitFromItsNewlineByTheBuffer) {
  // Byte 65535 is the '\r' and byte 65536 the '\n': they arrive in different reads.
  const std::string first(65535, 'x');
  EXPECT_THAT(lines_of(first + "\r\nnext\n"), ElementsAre(first, "next"));
}

TEST(LinesSource, ThrowsNamingThePathWhenTheFileCannotBeOpened) {
  try {
    lines_source("/nonexistent/conveyor/input.txt");
    FAIL() << "no exception";
  } catch (const std::invalid_argument& e) {
    EXPECT_THAT(e.what(), HasSubstr("/nonexistent/conveyor/input.txt"));
  }
}

TEST(LinesSource, ThrowsOnAReadError) {
  // A directory opens read-only but cannot be read.
  TempFile file("");
  auto source = lines_source(std::filesystem::path(file.path()).parent_path().string());
  EXPECT_THROW(source->next(), std::system_error);
}

TEST(LinesSource, ReadyTellsWhetherALineCanBeHadWithoutBlocking) {
  Pipe pipe;
  auto source = lines_source(pipe.read_path());
  EXPECT_FALSE(source->ready());
  ASSERT_TRUE(pipe.write("one\ntwo\n"));
  EXPECT_TRUE(source->ready());
  EXPECT_EQ(source->next(), "one");
  EXPECT_TRUE(source->ready()) << "'two' is buffered";
  EXPECT_EQ(source->next(), "two");
  EXPECT_FALSE(source->ready());
}

TEST(LinesSource, InterruptEndsANextBlockedOnAnEmptyPipe) {
  Pipe pipe;
  auto source = lines_source(pipe.read_path());
  auto blocked = std::async(std::launch::async, [&source] { return source->next(); });
  source->interrupt();
  if (blocked.wait_for(std::chrono::seconds(10)) != std::future_status::ready) {
    ASSERT_TRUE(pipe.write("unblock\n"));  // so that the test fails instead of hanging
  }
  EXPECT_EQ(blocked.get(), std::nullopt);
}

TEST(GeneratorSource, GivesCountPayloadsThenNothing) {
  auto source = generator_source(3, std::nullopt);
  EXPECT_EQ(source->size_hint(), 3u);
  EXPECT_THAT(read_all(*source), ElementsAre("0", "1", "2"));
  EXPECT_EQ(source->next(), std::nullopt);
}

TEST(GeneratorSource, PadsEachPayloadWithDotsToTheSize) {
  auto source = generator_source(11, 4);
  auto payloads = read_all(*source);
  ASSERT_EQ(payloads.size(), 11u);
  EXPECT_EQ(payloads[0], "0...");
  EXPECT_EQ(payloads[10], "10..");
}

TEST(GeneratorSource, GeneratedPayloadPadsOrTruncatesToTheSize) {
  EXPECT_EQ(generated_payload(42, std::nullopt), "42");
  EXPECT_EQ(generated_payload(7, 5), "7....");
  EXPECT_EQ(generated_payload(12345, 3), "123");
  EXPECT_EQ(generated_payload(12345, 5), "12345");
  EXPECT_EQ(generated_payload(9, 0), "");
}

// The reader passes one buffer to every next_into(): each payload replaces the last, whatever
// their lengths, and the buffer is written in place once it is large enough.
TEST(GeneratorSource, NextIntoReusesTheBufferItIsGivenAndGivesWhatNextGives) {
  auto into = generator_source(300, 64);
  auto by_value = generator_source(300, 64);
  std::string buffer(1000, 'z');
  buffer.clear();
  const char* const kept = buffer.data();
  for (int n = 0; n < 300; ++n) {
    ASSERT_TRUE(into->next_into(buffer));
    ASSERT_EQ(buffer, *by_value->next()) << n;
    EXPECT_EQ(buffer.data(), kept) << "payload " << n << " took a new buffer";
  }
  EXPECT_FALSE(into->next_into(buffer));
  EXPECT_FALSE(by_value->next());
  std::string shorter = "a much longer old content";
  write_generated_payload(shorter, 12, std::nullopt);
  EXPECT_EQ(shorter, "12");
}

// A source with only next() (the C++ API's callback) works through the default next_into().
TEST(CallbackSource, NextIntoDefaultsToNext) {
  int calls = 0;
  auto source = callback_source([&calls]() -> std::optional<std::string> {
    if (calls == 2) return std::nullopt;
    return "p" + std::to_string(calls++);
  });
  std::string out = "old";
  ASSERT_TRUE(source->next_into(out));
  EXPECT_EQ(out, "p0");
  ASSERT_TRUE(source->next_into(out));
  EXPECT_EQ(out, "p1");
  EXPECT_FALSE(source->next_into(out));
}

TEST(CallbackSource, GivesTheCallbacksPayloadsUntilItReturnsNothing) {
  int calls = 0;
  auto source = callback_source([&calls]() -> std::optional<std::string> {
    if (calls == 2) return std::nullopt;
    return "cb-" + std::to_string(calls++);
  });
  EXPECT_THAT(read_all(*source), ElementsAre("cb-0", "cb-1"));
  EXPECT_EQ(source->size_hint(), std::nullopt);
}

TEST(MakeSource, ParsesGeneratorSpecs) {
  auto plain = make_source("gen:2");
  EXPECT_THAT(read_all(*plain), ElementsAre("0", "1"));
  auto sized = make_source("gen:2:3");
  EXPECT_THAT(read_all(*sized), ElementsAre("0..", "1.."));
  auto none = make_source("gen:0");
  EXPECT_THAT(read_all(*none), IsEmpty());
}

TEST(MakeSource, ParsesLinesSpecs) {
  TempFile file("a\nb\n");
  auto source = make_source("lines:" + file.path());
  EXPECT_THAT(read_all(*source), ElementsAre("a", "b"));
}

TEST(MakeSource, ErrorsNameTheProblem) {
  EXPECT_THAT(make_source_error("lines:"), HasSubstr("needs a path"));
  EXPECT_THAT(make_source_error("lines:/nonexistent/x"), HasSubstr("cannot open /nonexistent/x"));
  EXPECT_THAT(make_source_error("gen:"), HasSubstr("COUNT must be a whole number, got ''"));
  EXPECT_THAT(make_source_error("gen:abc"), HasSubstr("COUNT must be a whole number, got 'abc'"));
  EXPECT_THAT(make_source_error("gen:-3"), HasSubstr("COUNT must be a whole number, got '-3'"));
  EXPECT_THAT(make_source_error("gen:1.5"), HasSubstr("COUNT"));
  EXPECT_THAT(make_source_error("gen:5:"), HasSubstr("SIZE must be a whole number, got ''"));
  EXPECT_THAT(make_source_error("gen:5:x"), HasSubstr("SIZE must be a whole number, got 'x'"));
  EXPECT_THAT(make_source_error("gen:5:3:2"), HasSubstr("SIZE"));
  EXPECT_THAT(make_source_error("files:x"), HasSubstr("unknown source 'files:x'"));
  EXPECT_THAT(make_source_error(""), HasSubstr("unknown source ''"));
}

}  // namespace
}  // namespace conveyor::producer
