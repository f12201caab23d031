// UTF-8 validation, JSON string escaping and base64, as the results file needs them.
#include "conveyor/common/text.hpp"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <random>
#include <string>
#include <utility>
#include <vector>

namespace conveyor {
namespace {

std::string bytes(std::initializer_list<int> values) {
  std::string out;
  for (int v : values)
    out.push_back(static_cast<char>(v));
  return out;
}

TEST(Utf8, AcceptsAsciiAndTheEmptyString) {
  EXPECT_TRUE(is_valid_utf8(""));
  EXPECT_TRUE(is_valid_utf8("plain ascii ~"));
  EXPECT_TRUE(is_valid_utf8(std::string("nul\0inside", 10)));
}

TEST(Utf8, AcceptsWellFormedSequencesOfEveryLength) {
  EXPECT_TRUE(is_valid_utf8(bytes({0xC2, 0x80})));              // U+0080, smallest 2-byte
  EXPECT_TRUE(is_valid_utf8(bytes({0xC3, 0xA9})));              // é
  EXPECT_TRUE(is_valid_utf8(bytes({0xDF, 0xBF})));              // U+07FF
  EXPECT_TRUE(is_valid_utf8(bytes({0xE0, 0xA0, 0x80})));        // U+0800, smallest 3-byte
  EXPECT_TRUE(is_valid_utf8(bytes({0xE2, 0x82, 0xAC})));        // €
  EXPECT_TRUE(is_valid_utf8(bytes({0xED, 0x9F, 0xBF})));        // U+D7FF, below the surrogates
  EXPECT_TRUE(is_valid_utf8(bytes({0xEE, 0x80, 0x80})));        // U+E000, above them
  EXPECT_TRUE(is_valid_utf8(bytes({0xEF, 0xBF, 0xBF})));        // U+FFFF
  EXPECT_TRUE(is_valid_utf8(bytes({0xF0, 0x90, 0x80, 0x80})));  // U+10000, smallest 4-byte
  EXPECT_TRUE(is_valid_utf8(bytes({0xF0, 0x9F, 0x9A, 0x80})));  // 🚀
  EXPECT_TRUE(is_valid_utf8(bytes({0xF4, 0x8F, 0xBF, 0xBF})));  // U+10FFFF, the largest
}

TEST(Utf8, RejectsOverlongEncodings) {
  EXPECT_FALSE(is_valid_utf8(bytes({0xC0, 0x80})));              // NUL in two bytes
  EXPECT_FALSE(is_valid_utf8(bytes({0xC1, 0xBF})));              // U+007F in two bytes
  EXPECT_FALSE(is_valid_utf8(bytes({0xE0, 0x80, 0x80})));        // NUL in three
  EXPECT_FALSE(is_valid_utf8(bytes({0xE0, 0x9F, 0xBF})));        // U+07FF in three
  EXPECT_FALSE(is_valid_utf8(bytes({0xF0, 0x80, 0x80, 0x80})));  // NUL in four
  EXPECT_FALSE(is_valid_utf8(bytes({0xF0, 0x8F, 0xBF, 0xBF})));  // U+FFFF in four
}

TEST(Utf8, RejectsSurrogates) {
  EXPECT_FALSE(is_valid_utf8(bytes({0xED, 0xA0, 0x80})));  // U+D800
  EXPECT_FALSE(is_valid_utf8(bytes({0xED, 0xBF, 0xBF})));  // U+DFFF
  // A CESU-8 style pair is two surrogates, not one character.
  EXPECT_FALSE(is_valid_utf8(bytes({0xED, 0xA0, 0xBD, 0xED, 0xB8, 0x80})));
}

TEST(Utf8, RejectsCodePointsAboveU10FFFF) {
  EXPECT_FALSE(is_valid_utf8(bytes({0xF4, 0x90, 0x80, 0x80})));  // U+110000
  EXPECT_FALSE(is_valid_utf8(bytes({0xF5, 0x80, 0x80, 0x80})));
  EXPECT_FALSE(is_valid_utf8(bytes({0xF7, 0xBF, 0xBF, 0xBF})));
  EXPECT_FALSE(is_valid_utf8(bytes({0xF8, 0x88, 0x80, 0x80, 0x80})));  // old 5-byte form
  EXPECT_FALSE(is_valid_utf8(bytes({0xFE})));
  EXPECT_FALSE(is_valid_utf8(bytes({0xFF})));
}

TEST(Utf8, RejectsTruncatedSequences) {
  EXPECT_FALSE(is_valid_utf8(bytes({0xC3})));
  EXPECT_FALSE(is_valid_utf8(bytes({0xE2, 0x82})));
  EXPECT_FALSE(is_valid_utf8(bytes({0xF0, 0x9F, 0x9A})));
  EXPECT_FALSE(is_valid_utf8("text then \xE2\x82"));
  EXPECT_FALSE(is_valid_utf8(bytes({0xC3, 0x41})));        // a continuation byte replaced by 'A'
  EXPECT_FALSE(is_valid_utf8(bytes({0xE2, 0x28, 0xA1})));  // broken in the middle
}

TEST(Utf8, RejectsASequenceCutShortByTheEndOfTheView) {
  // The bytes past the view would complete the character: they must not be looked at.
  const std::string euro = "\xE2\x82\xAC";
  EXPECT_TRUE(is_valid_utf8(euro));
  EXPECT_FALSE(is_valid_utf8(std::string_view(euro).substr(0, 2)));
  EXPECT_FALSE(is_valid_utf8(std::string_view(euro).substr(0, 1)));
}

TEST(Utf8, RejectsLoneContinuationBytes) {
  EXPECT_FALSE(is_valid_utf8(bytes({0x80})));
  EXPECT_FALSE(is_valid_utf8(bytes({0x41, 0xBF})));
  EXPECT_FALSE(is_valid_utf8(bytes({0xC3, 0xA9, 0xA9})));  // é plus one too many
}

// The validator reads sixteen, then eight ASCII bytes at a time: a bad or multibyte sequence
// must be seen wherever it falls in or across those blocks.
TEST(Utf8, ASequenceIsCheckedWhereverItFallsInALongText) {
  for (std::size_t at = 0; at <= 40; ++at) {
    const std::string before(at, 'a');
    const std::string after(40 - at, 'z');
    EXPECT_FALSE(is_valid_utf8(before + bytes({0xFF}) + after)) << at;
    EXPECT_FALSE(is_valid_utf8(before + bytes({0xED, 0xA0, 0x80}) + after)) << at;  // surrogate
    EXPECT_FALSE(is_valid_utf8(before + bytes({0xE2, 0x82}))) << at;  // cut by the end
    EXPECT_TRUE(is_valid_utf8(before + bytes({0xE2, 0x82, 0xAC}) + after)) << at;
    EXPECT_TRUE(is_valid_utf8(before + after));
  }
}

// Short texts byte by byte, longer ones in words with the last word read overlapping: every size
// up to five words, and every place in it.
TEST(Ascii, AHighByteIsFoundWhereverItFalls) {
  EXPECT_TRUE(is_ascii(""));
  for (std::size_t size = 1; size <= 40; ++size) {
    for (std::size_t at = 0; at < size; ++at) {
      const std::string before(at, 'a');
      const std::string after(size - 1 - at, 'z');
      EXPECT_TRUE(is_ascii(before + bytes({0x7F}) + after)) << size << " " << at;
      EXPECT_FALSE(is_ascii(before + bytes({0x80}) + after)) << size << " " << at;
      EXPECT_FALSE(is_ascii(before + bytes({0xFF}) + after)) << size << " " << at;
    }
  }
}

TEST(JsonString, EscapesAreFoundWhereverTheyFallInALongText) {
  // Text is scanned sixteen, then eight bytes at a time: each escape, at each offset in and
  // across blocks and words.
  const std::vector<std::pair<std::string, std::string>> escapes = {{"\"", "\\\""},
                                                                    {"\\", "\\\\"},
                                                                    {"\n", "\\n"},
                                                                    {bytes({0x01}), "\\u0001"},
                                                                    {bytes({0x1F}), "\\u001f"},
                                                                    {bytes({0x7F}), bytes({0x7F})},
                                                                    {" ", " "}};
  for (std::size_t at = 0; at <= 40; ++at) {
    for (const auto& [raw, escaped] : escapes) {
      std::string out;
      append_json_string(out, std::string(at, 'a') + raw + std::string(40 - at, 'z'));
      EXPECT_EQ(out, std::string(at, 'a') + escaped + std::string(40 - at, 'z')) << at;
    }
  }
  for (std::size_t at = 0; at <= 40; ++at) {
    const std::string before(at, 'a');
    const std::string after(40 - at, 'z');
    std::string out = "[";
    append_json_string(out, before + "\"" + after + "\n");
    EXPECT_EQ(out, "[" + before + "\\\"" + after + "\\n") << at;
    std::string latin1;
    append_json_string(latin1, before + bytes({0xE9}) + after);
    EXPECT_EQ(latin1, before + "\\u00e9" + after) << at;
  }
}

// Output that is itself JSON has an escape every few bytes: each is found, whatever falls between
// (checked against JSON's own reading of the text: nlohmann's parser).
TEST(JsonString, TextDenseWithEscapesReadsBackAsItWas) {
  std::mt19937 random(17);
  const std::string alphabet = std::string("\"\\\n\t") + bytes({0x01, 0x1F}) + "ab{}:, ";
  for (std::size_t size = 0; size < 200; ++size) {
    std::string text;
    for (std::size_t i = 0; i < size; ++i)
      text.push_back(alphabet[random() % alphabet.size()]);
    std::string json = "\"";
    append_json_string(json, text);
    json += '"';
    EXPECT_EQ(nlohmann::json::parse(json).get<std::string>(), text) << json;
  }
}

// The caller that checked UTF-8 already gets the same text as one that lets it be checked.
TEST(JsonString, Utf8TextIsWrittenAsByTheCheckingFormAndSaidToBeUtf8) {
  const std::string text = std::string(37, 'a') + "caf" + bytes({0xC3, 0xA9}) + "\"\n" +
                           std::string(19, 'z') + bytes({0xE2, 0x82, 0xAC});
  ASSERT_TRUE(is_valid_utf8(text));
  std::string checked;
  append_json_string(checked, text);
  std::string fused = "kept ";
  EXPECT_TRUE(append_json_utf8(fused, text));
  EXPECT_EQ(fused, "kept " + checked);
  EXPECT_EQ(nlohmann::json::parse("\"" + checked + "\"").get<std::string>(), text);
}

// Not UTF-8: nothing is appended (what was there stays), wherever the bad byte falls, after
// escapes and good sequences were already written.
TEST(JsonString, TextThatIsNotUtf8IsRefusedAndLeavesTheLineAsItWas) {
  for (std::size_t at : {0u, 1u, 15u, 16u, 17u, 40u, 63u}) {
    std::string text = std::string(64, 'x');
    text.replace(5, 2, bytes({0xC3, 0xA9}));
    text[9] = '"';
    text[at] = static_cast<char>(0xFF);
    std::string line = "{\"output\":\"";
    EXPECT_FALSE(append_json_utf8(line, text)) << at;
    EXPECT_EQ(line, "{\"output\":\"") << at;
  }
  std::string cut = "ends in half a character " + bytes({0xE2, 0x82});
  std::string line;
  EXPECT_FALSE(append_json_utf8(line, cut));
  EXPECT_TRUE(line.empty());
}

// Random bytes, mostly ASCII with escapes and multibyte sequences, some broken: the fused form
// agrees with is_valid_utf8, and when it takes the text it writes what append_json_string does.
TEST(JsonString, TheFusedCheckAgreesWithTheValidatorOnRandomText) {
  std::mt19937 random(7);
  const std::vector<std::string> pieces = {"a",
                                           "plain text ",
                                           "\"",
                                           "\\",
                                           "\n",
                                           "\x01",
                                           bytes({0xC3, 0xA9}),
                                           bytes({0xE2, 0x82, 0xAC}),
                                           bytes({0xF0, 0x9F, 0x98, 0x80}),
                                           bytes({0x80}),
                                           bytes({0xC3}),
                                           bytes({0xED, 0xA0, 0x80})};
  for (int round = 0; round < 2000; ++round) {
    std::string text;
    const int count = static_cast<int>(random() % 40);
    for (int n = 0; n < count; ++n) {
      const std::size_t pick = random() % 100 < 97 ? random() % 9 : 9 + random() % 3;
      text += pieces[pick];
    }
    std::string fused = "x";
    const bool taken = append_json_utf8(fused, text);
    ASSERT_EQ(taken, is_valid_utf8(text)) << round;
    if (!taken) {
      ASSERT_EQ(fused, "x");
      continue;
    }
    std::string escaped;
    append_json_string(escaped, text);
    ASSERT_EQ(fused, "x" + escaped) << round;
  }
}

TEST(JsonString, EscapesQuoteBackslashAndTheNamedControls) {
  std::string out = "prefix:";
  append_json_string(out, "a\"b\\c\nd\re\tf");
  EXPECT_EQ(out, R"(prefix:a\"b\\c\nd\re\tf)");
}

TEST(JsonString, EscapesOtherControlCharactersAsUnicode) {
  std::string out;
  append_json_string(out, bytes({0x00, 0x01, 0x08, 0x0C, 0x1B, 0x1F}));
  EXPECT_EQ(out, R"(\u0000\u0001\b\f\u001b\u001f)");
}

TEST(JsonString, BytesThatAreNotUtf8AreWrittenAsTheirLatin1CodePoints) {
  std::string document = "\"";
  append_json_string(document, bytes({'a', 0xE9, 0xFF, '\r'}));
  document += "\"";
  EXPECT_EQ(document, R"("a\u00e9\u00ff\r")");
  EXPECT_EQ(nlohmann::json::parse(document).get<std::string>(), "a\xc3\xa9\xc3\xbf\r");
}

TEST(JsonString, LeavesPrintableAndMultibyteTextAlone) {
  std::string out;
  append_json_string(out, "caf\xc3\xa9 / ~ \x7f");
  EXPECT_EQ(out, "caf\xc3\xa9 / ~ \x7f");
}

TEST(Utf8Cut, APrefixEndsBetweenCharacters) {
  const std::string euros = "\xE2\x82\xAC\xE2\x82\xAC";  // two euro signs, three bytes each
  EXPECT_EQ(utf8_prefix(euros, 6), euros);
  EXPECT_EQ(utf8_prefix(euros, 5), "\xE2\x82\xAC");
  EXPECT_EQ(utf8_prefix(euros, 4), "\xE2\x82\xAC");
  EXPECT_EQ(utf8_prefix(euros, 3), "\xE2\x82\xAC");
  EXPECT_EQ(utf8_prefix(euros, 2), "");
  EXPECT_EQ(utf8_prefix("abc", 2), "ab");
  EXPECT_EQ(utf8_prefix("abc", 0), "");
}

TEST(Utf8Cut, ASuffixStartsBetweenCharacters) {
  const std::string text = "a\xF0\x9F\x9A\x80";  // a, then a four-byte rocket
  EXPECT_EQ(utf8_suffix(text, 5), text);
  EXPECT_EQ(utf8_suffix(text, 4), "\xF0\x9F\x9A\x80");
  EXPECT_EQ(utf8_suffix(text, 3), "");
  EXPECT_EQ(utf8_suffix(text, 1), "");
  EXPECT_EQ(utf8_suffix("abc", 2), "bc");
}

TEST(Utf8Cut, InvalidBytesAreCutNoMoreThanThreeBytesShort) {
  const std::string continuations(10, '\x80');  // no character starts anywhere in it
  EXPECT_EQ(utf8_prefix(continuations, 8).size(), 5u);
  EXPECT_EQ(utf8_suffix(continuations, 8).size(), 5u);
}

TEST(JsonString, EveryAsciiCharacterRoundTripsThroughAJsonParser) {
  std::string all;
  for (int c = 0; c < 0x80; ++c)
    all.push_back(static_cast<char>(c));
  std::string document = "\"";
  append_json_string(document, all);
  document += "\"";
  EXPECT_EQ(nlohmann::json::parse(document).get<std::string>(), all);
}

TEST(Base64, MatchesTheRfc4648TestVectors) {
  EXPECT_EQ(base64_encode(""), "");
  EXPECT_EQ(base64_encode("f"), "Zg==");
  EXPECT_EQ(base64_encode("fo"), "Zm8=");
  EXPECT_EQ(base64_encode("foo"), "Zm9v");
  EXPECT_EQ(base64_encode("foob"), "Zm9vYg==");
  EXPECT_EQ(base64_encode("fooba"), "Zm9vYmE=");
  EXPECT_EQ(base64_encode("foobar"), "Zm9vYmFy");
}

TEST(Base64, EncodesHighAndZeroBytes) {
  EXPECT_EQ(base64_encode(bytes({0x00})), "AA==");
  EXPECT_EQ(base64_encode(bytes({0xFF, 0xFF, 0xFF})), "////");
  EXPECT_EQ(base64_encode(bytes({0xFB, 0xEF, 0xBE})), "++++");
  EXPECT_EQ(base64_encode(bytes({0x00, 0x10, 0x83, 0x10, 0x51, 0x87})), "ABCDEFGH");
}

TEST(Base64, DecodesWhatItEncodes) {
  std::string all;
  for (int c = 0; c < 256; ++c)
    all.push_back(static_cast<char>(c));
  for (std::size_t n : {0u, 1u, 2u, 3u, 4u, 255u, 256u}) {
    const std::string original = all.substr(0, n);
    EXPECT_EQ(base64_decode(base64_encode(original)), original) << n << " bytes";
  }
}

TEST(Base64, RefusesTextThatIsNotBase64) {
  EXPECT_EQ(base64_decode("Zg="), std::nullopt) << "not a multiple of 4";
  EXPECT_EQ(base64_decode("Z!=="), std::nullopt);
  EXPECT_EQ(base64_decode("Zm9v"), std::optional<std::string>("foo"));
}

}  // namespace
}  // namespace conveyor
