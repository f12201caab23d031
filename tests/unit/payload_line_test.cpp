// PayloadLineReader: what it takes, nlohmann parses to the same payload; what it cannot vouch for,
// it leaves to nlohmann.
#include "conveyor/producer/payload_line.hpp"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <random>
#include <string>
#include <vector>

#include "unit/mutation.hpp"

namespace conveyor::producer {
namespace {

// The property: a line the reader takes is one nlohmann parses, to the same payload and
// encoding. Returns whether the reader took it.
bool check_against_nlohmann(PayloadLineReader& reader, const std::string& line) {
  std::string payload = "left over from the line before";
  if (!reader.read(line, payload)) return false;
  nlohmann::json parsed;
  try {
    parsed = nlohmann::json::parse(line);
  } catch (const std::exception& e) {
    ADD_FAILURE() << "the reader took a line nlohmann refuses: " << line << ": " << e.what();
    return true;
  }
  EXPECT_TRUE(parsed.is_object()) << line;
  EXPECT_TRUE(parsed["payload"].is_string()) << line;
  EXPECT_EQ(payload, parsed["payload"].get<std::string>()) << line;
  const bool base64 = parsed.contains("encoding");
  EXPECT_EQ(reader.base64(), base64) << line;
  if (base64) {
    EXPECT_EQ(parsed["encoding"], "base64") << line;
  }
  return true;
}

std::string read(const std::string& line) {
  PayloadLineReader reader;
  std::string payload;
  EXPECT_TRUE(reader.read(line, payload)) << line;
  return payload;
}

TEST(PayloadLine, TakesTheLinesThePythonPackageWrites) {
  // json.dumps(..., ensure_ascii=False, separators=(",", ":")): UTF-8 as it is, escapes for
  // quotes, backslashes and control characters.
  PayloadLineReader reader;
  for (const std::string line :
       {R"({"payload":"hello"})", R"({"payload":""})", R"({"payload":"caf\u00e9 and café"})",
        R"({"payload":"say \"hi\"\\ \/ \b\f\n\r\t"})", R"({"payload":"\u0000\u001f"})",
        "{\"payload\":\"\xF0\x9F\x98\x80 \\ud83d\\ude00 \\uD83D\\uDE00\"}",
        R"({"payload":"AP8=","encoding":"base64"})", R"({"encoding":"base64","payload":"AP8="})",
        R"({ "payload" : "spaced" , "note" : "ignored" })", "\t{\"payload\":\"x\"}\r\n "}) {
    EXPECT_TRUE(check_against_nlohmann(reader, line)) << line;
  }
  EXPECT_EQ(read(R"({"payload":"caf\u00e9"})"), "caf\xC3\xA9");
  EXPECT_EQ(read(R"({"payload":"\ud83d\ude00"})"), "\xF0\x9F\x98\x80");
  EXPECT_EQ(read(R"({"payload":"\u0000"})"), std::string(1, '\0'));
  EXPECT_EQ(read(R"({"note":"x","payload":"a\"b"})"), "a\"b");
}

TEST(PayloadLine, LeavesToNlohmannWhatItCannotVouchFor) {
  PayloadLineReader reader;
  std::string payload;
  for (const std::string line : {
           "",
           "{}",
           "[]",
           R"("payload")",
           R"({"payload":5})",
           R"({"payload":null})",
           R"({"payload":"a","payload":"b"})",     // nlohmann keeps the last
           R"({"payload":"a","encoding":"hex"})",  // an error, in nlohmann's words
           R"({"payload":"a","encoding":"base64","encoding":"base64"})",
           R"({"encoding":"base64"})",  // no payload
           R"({"payload":"a","n":1})",  // a member that is not a string
           R"({"payload":"a","o":{"k":"v"}})",
           R"({"payload":"a",})",   // a trailing comma
           R"({"payload":"a"} x)",  // something after the object
           R"({"payload":"a"}{})",
           R"({"payload":"\ud83d"})",  // a lone high surrogate
           R"({"payload":"\ud83dx"})",
           R"({"payload":"\ude00"})",        // a lone low surrogate
           R"({"payload":"\ud83d\u0041"})",  // high, then not a low
           R"({"payload":"\x41"})",          // not a JSON escape
           R"({"payload":"\u00g0"})",
           R"({"payload":"\u00e"})",
           R"({"payload":"cut)",
           "{\"payload\":\"tab\tinside\"}",    // a raw control character
           "{\"payload\":\"\xC3\"}",           // not UTF-8
           "{\"payload\":\"\xED\xA0\x80\"}",   // a surrogate written as UTF-8
           "\xEF\xBB\xBF{\"payload\":\"a\"}",  // a byte order mark
           "{\"payload\":\"a\"\x01}",
       }) {
    EXPECT_FALSE(reader.read(line, payload)) << line;
  }
  EXPECT_TRUE(reader.read(R"({"payload":"and still reads"})", payload));
  EXPECT_EQ(payload, "and still reads");
}

// Lines of payloads with every kind of character, then mutated: flipped, inserted and removed
// bytes. Whatever the reader takes must be what nlohmann reads; enough must be taken both ways,
// or this proves nothing.
TEST(PayloadLine, MutatedLinesAreTakenOnlyIfNlohmannAgrees) {
  const std::vector<std::string> pieces = {"a",        "Z",
                                           " ",        "\\\"",
                                           "\\\\",     "\\/",
                                           "\\n",      "\\t",
                                           "\\u00e9",  "\\uD83D\\uDE00",
                                           "\xC3\xA9", "\xE2\x82\xAC",
                                           "\\u0000",  "\"",
                                           "\\",       "{",
                                           "}",        ",",
                                           ":"};
  const std::vector<std::string> shapes = {
      R"({"payload":"%"})", R"({"payload":"%","encoding":"base64"})",
      R"({ "k":"%", "payload" : "%" })", R"({"payload":"%","n":1})"};
  PayloadLineReader reader;
  int taken = 0;
  int refused = 0;
  std::mt19937_64 random(7);
  for (int round = 0; round < 20000; ++round) {
    std::string line = shapes[random() % shapes.size()];
    for (std::size_t at; (at = line.find('%')) != std::string::npos;) {
      std::string text;
      for (std::size_t n = random() % 12; n > 0; --n)
        text += pieces[random() % (pieces.size() - (round % 2 == 0 ? 6 : 0))];
      line.replace(at, 1, text);
    }
    for (int edits = static_cast<int>(random() % 3); edits > 0; --edits)
      mutate_once(line, random, 128);
    if (check_against_nlohmann(reader, line)) {
      ++taken;
    } else {
      ++refused;
    }
  }
  EXPECT_GT(taken, 2000);
  EXPECT_GT(refused, 2000);
}

}  // namespace
}  // namespace conveyor::producer
