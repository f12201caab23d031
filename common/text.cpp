#include "conveyor/common/text.hpp"

#include <bit>
#include <charconv>
#include <cstdint>
#include <cstring>

#include <openssl/evp.h>

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

namespace conveyor {

namespace {

// The length of the multibyte sequence at `p` (a lead byte, 0x80 or above), or 0 when it is not
// a well-formed one: a bad lead or continuation byte, cut short by `end`, overlong, a surrogate
// or above U+10FFFF.
std::ptrdiff_t multibyte_length(const unsigned char* p, const unsigned char* end) {
  const unsigned char c = *p;
  int extra;
  std::uint32_t cp;
  if ((c & 0xE0) == 0xC0) {
    extra = 1;
    cp = c & 0x1F;
  } else if ((c & 0xF0) == 0xE0) {
    extra = 2;
    cp = c & 0x0F;
  } else if ((c & 0xF8) == 0xF0) {
    extra = 3;
    cp = c & 0x07;
  } else {
    return 0;
  }
  if (end - p <= extra) return 0;
  for (int i = 1; i <= extra; ++i) {
    if ((p[i] & 0xC0) != 0x80) return 0;
    cp = (cp << 6) | (p[i] & 0x3F);
  }
  static constexpr std::uint32_t kMinimum[] = {0, 0x80, 0x800, 0x10000};
  if (cp < kMinimum[extra] || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return 0;
  return extra + 1;
}

}  // namespace

bool is_ascii(std::string_view bytes) {
  constexpr std::uint64_t kHighBits = 0x8080808080808080;
  const auto word_at = [&](std::size_t at) {
    std::uint64_t word = 0;
    std::memcpy(&word, bytes.data() + at, 8);
    return word;
  };
  const std::size_t size = bytes.size();
  if (size >= 8) {
    // Whole words, then the last eight bytes once more (overlapping the last word read): an id
    // of 20-odd bytes is three words and no byte-by-byte tail.
    std::uint64_t seen = word_at(size - 8);
    for (std::size_t at = 0; at + 8 <= size; at += 8) {
      seen |= word_at(at);
      if ((seen & kHighBits) != 0) return false;
    }
    return (seen & kHighBits) == 0;
  }
  unsigned char seen = 0;
  for (const char byte : bytes)
    seen |= static_cast<unsigned char>(byte);
  return (seen & 0x80) == 0;
}

bool is_valid_utf8(std::string_view bytes) {
  const auto* p = reinterpret_cast<const unsigned char*>(bytes.data());
  const auto* end = p + bytes.size();
  while (p < end) {
    // Sixteen, then eight ASCII bytes at a time: results and ids are mostly ASCII, and this runs
    // for every result line the producer writes.
    constexpr std::uint64_t kHighBits = 0x8080808080808080;
    std::uint64_t words[2] = {0, 0};
    if (end - p >= 16 && (std::memcpy(words, p, 16), ((words[0] | words[1]) & kHighBits) == 0)) {
      p += 16;
    } else if (end - p >= 8 && (std::memcpy(words, p, 8), (words[0] & kHighBits) == 0)) {
      p += 8;
    } else if (*p < 0x80) {
      ++p;
    } else if (const auto length = multibyte_length(p, end); length > 0) {
      p += length;
    } else {
      return false;
    }
  }
  return true;
}

namespace {

void append_escaped(std::string& out, unsigned char c) {
  static constexpr char hex[] = "0123456789abcdef";
  out += "\\u00";
  out.push_back(hex[c >> 4]);
  out.push_back(hex[c & 0xF]);
}

// True when none of the eight bytes at `p` needs an escape: no control character, quote or
// backslash, and no byte above 0x7f unless the text is UTF-8. (The usual SWAR tests: a byte
// below n, or equal to n, sets its high bit in the result; other bytes never do on their own.)
bool plain_word(const char* p, bool utf8) {
  constexpr std::uint64_t kOnes = 0x0101010101010101;
  constexpr std::uint64_t kHigh = 0x8080808080808080;
  std::uint64_t word = 0;
  std::memcpy(&word, p, 8);
  const auto has_zero = [](std::uint64_t v) { return ((v - kOnes) & ~v & kHigh) != 0; };
  const bool control = ((word - kOnes * 0x20) & ~word & kHigh) != 0;
  if (control || has_zero(word ^ (kOnes * '"')) || has_zero(word ^ (kOnes * '\\'))) return false;
  return utf8 || (word & kHigh) == 0;
}

// How many of the sixteen bytes at `p` need no escape before the first that does (16: none
// does). The count, not a yes or no, so that text full of escapes (JSON output) is not tested again
// at every byte. With SSE2 (every x86-64) a byte mask comes out in one instruction; elsewhere GCC's
// portable vector extension (NEON on arm64) does the same work in more. At 1 KiB results the
// eight-byte test this replaced was a third of the producer's instructions, and the portable form
// still about a tenth.
#if defined(__SSE2__)
std::size_t plain_prefix(const char* p, bool utf8) {
  const __m128i block = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p));
  // Signed, "below 0x20" also takes every byte above 0x7f: wanted unless the text is UTF-8, when
  // an unsigned test (the largest of the byte and 0x1f is 0x1f) takes the controls alone.
  const __m128i below =
      utf8 ? _mm_cmpeq_epi8(_mm_max_epu8(block, _mm_set1_epi8(0x1f)), _mm_set1_epi8(0x1f))
           : _mm_cmplt_epi8(block, _mm_set1_epi8(0x20));
  const __m128i quote = _mm_cmpeq_epi8(block, _mm_set1_epi8('"'));
  const __m128i backslash = _mm_cmpeq_epi8(block, _mm_set1_epi8('\\'));
  const auto mask =
      static_cast<unsigned>(_mm_movemask_epi8(_mm_or_si128(below, _mm_or_si128(quote, backslash))));
  return mask == 0 ? 16 : static_cast<std::size_t>(std::countr_zero(mask));
}
#else
std::size_t plain_prefix(const char* p, bool utf8) {
  using Block = unsigned char __attribute__((vector_size(16)));
  Block block;
  std::memcpy(&block, p, sizeof block);
  auto needs_escape = (block < 0x20) | (block == '"') | (block == '\\');
  if (!utf8) needs_escape |= (block >= 0x80);
  std::uint64_t halves[2];  // lane 0 is the byte at the lowest address of halves[0]
  std::memcpy(halves, &needs_escape, sizeof halves);
  const auto first_set = [](std::uint64_t half) {
    if constexpr (std::endian::native == std::endian::little) return std::countr_zero(half) / 8;
    return std::countl_zero(half) / 8;
  };
  if ((halves[0] | halves[1]) == 0) return 16;  // the usual case: one test
  if (halves[0] != 0) return static_cast<std::size_t>(first_set(halves[0]));
  return 8 + static_cast<std::size_t>(first_set(halves[1]));
}
#endif

// How many bytes from `at` need no escape, found sixteen, then eight at a time; it may stop
// short of the first byte that does (the caller looks at the rest one by one).
std::size_t plain_run(std::string_view bytes, std::size_t at, bool utf8) {
  const std::size_t from = at;
  while (at + 16 <= bytes.size()) {
    const std::size_t plain = plain_prefix(bytes.data() + at, utf8);
    at += plain;
    if (plain < 16) return at - from;
  }
  while (at + 8 <= bytes.size() && plain_word(bytes.data() + at, utf8))
    at += 8;
  return at - from;
}

// The two-character escape JSON names for `c`, or 0.
char named_escape(char c) {
  switch (c) {
    case '"':
      return '"';
    case '\\':
      return '\\';
    case '\n':
      return 'n';
    case '\r':
      return 'r';
    case '\t':
      return 't';
    case '\b':
      return 'b';
    case '\f':
      return 'f';
    default:
      return 0;
  }
}

}  // namespace

void append_decimal(std::string& out, std::uint64_t value) {
  char digits[20];
  out.append(digits, std::to_chars(digits, digits + sizeof digits, value).ptr);
}

std::size_t json_plain_ascii_prefix(std::string_view bytes) {
  return plain_run(bytes, 0, false);
}

namespace {

// What to do with bytes above 0x7f: pass them through (the caller checked that the text is
// UTF-8), escape each as a Latin-1 code point, or check each sequence as it comes.
enum class HighBytes { utf8, latin1, check };

// The escaping loop. With HighBytes::check the text is validated in the same pass (at 1 KiB results
// a separate is_valid_utf8 first was an eighth of the producer's instructions): false, and `out`
// as it was, when it is not UTF-8.
bool append_escaped_text(std::string& out, std::string_view bytes, HighBytes high) {
  const std::size_t mark = out.size();
  const bool pass_high = high == HighBytes::utf8;  // the runs stop at high bytes otherwise
  const auto* data = reinterpret_cast<const unsigned char*>(bytes.data());
  std::size_t run = 0;
  for (std::size_t i = 0; i < bytes.size(); ++i) {
    i += plain_run(bytes, i, pass_high);
    if (i == bytes.size()) break;
    const unsigned char byte = data[i];
    if (byte >= 0x80 && high == HighBytes::check) {
      const auto length = multibyte_length(data + i, data + bytes.size());
      if (length == 0) {
        out.resize(mark);
        return false;
      }
      i += static_cast<std::size_t>(length) - 1;  // the sequence stays in the run
      continue;
    }
    if (byte >= 0x20 && byte != '"' && byte != '\\' && (pass_high || byte < 0x80)) continue;
    out.append(bytes.data() + run, i - run);
    run = i + 1;
    if (const char name = named_escape(static_cast<char>(byte))) {
      out.push_back('\\');
      out.push_back(name);
    } else {
      append_escaped(out, byte);
    }
  }
  out.append(bytes.data() + run, bytes.size() - run);
  return true;
}

}  // namespace

void append_json_string(std::string& out, std::string_view bytes) {
  if (!append_escaped_text(out, bytes, HighBytes::check)) {
    append_escaped_text(out, bytes, HighBytes::latin1);
  }
}

bool append_json_utf8(std::string& out, std::string_view bytes) {
  return append_escaped_text(out, bytes, HighBytes::check);
}

std::string base64_encode(std::string_view bytes) {
  std::string out((bytes.size() + 2) / 3 * 4 + 1, '\0');  // EVP_EncodeBlock adds a NUL
  const int n = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                                reinterpret_cast<const unsigned char*>(bytes.data()),
                                static_cast<int>(bytes.size()));
  out.resize(static_cast<std::size_t>(n));
  return out;
}

std::optional<std::string> base64_decode(std::string_view text) {
  if (text.size() % 4 != 0) return std::nullopt;
  std::string out(text.size() / 4 * 3, '\0');
  const int n = EVP_DecodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                                reinterpret_cast<const unsigned char*>(text.data()),
                                static_cast<int>(text.size()));
  if (n < 0) return std::nullopt;
  // EVP_DecodeBlock counts the padding as zero bytes: take them off again.
  std::size_t size = static_cast<std::size_t>(n);
  for (std::size_t i = text.size(); i > 0 && text[i - 1] == '=' && size > 0; --i)
    --size;
  out.resize(size);
  return out;
}

std::string to_valid_utf8(std::string_view bytes) {
  if (is_valid_utf8(bytes)) return std::string(bytes);
  std::string text;
  text.reserve(bytes.size() * 2);
  for (const char c : bytes) {
    const auto byte = static_cast<unsigned char>(c);
    if (byte < 0x80) {
      text.push_back(c);
    } else {
      text.push_back(static_cast<char>(0xc0 | (byte >> 6)));
      text.push_back(static_cast<char>(0x80 | (byte & 0x3f)));
    }
  }
  return text;
}

namespace {
// A byte 10xxxxxx continues a character. At most three are skipped: a longer run is not UTF-8
// anyway, and to_valid_utf8 copes with it.
bool continues_a_character(char c) {
  return (static_cast<unsigned char>(c) & 0xc0) == 0x80;
}
constexpr int kMostContinuationBytes = 3;
}  // namespace

std::string_view utf8_prefix(std::string_view text, std::size_t most) {
  if (text.size() <= most) return text;
  std::size_t cut = most;  // text[cut] is the first byte left out
  for (int i = 0; i < kMostContinuationBytes && cut > 0 && continues_a_character(text[cut]); ++i)
    --cut;
  return text.substr(0, cut);
}

std::string_view utf8_suffix(std::string_view text, std::size_t most) {
  if (text.size() <= most) return text;
  std::size_t cut = text.size() - most;  // text[cut] is the first byte kept
  for (int i = 0;
       i < kMostContinuationBytes && cut < text.size() && continues_a_character(text[cut]); ++i)
    ++cut;
  return text.substr(cut);
}

}  // namespace conveyor
