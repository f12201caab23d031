// JsonScanner: JSON strings and punctuation, read as nlohmann reads them (json_scanner.hpp).
#include "conveyor/common/json_scanner.hpp"

#include "conveyor/common/text.hpp"

namespace conveyor {
namespace {

void append_utf8(std::string& out, unsigned code) {
  if (code < 0x80) {
    out += static_cast<char>(code);
  } else if (code < 0x800) {
    out += static_cast<char>(0xC0 | code >> 6);
    out += static_cast<char>(0x80 | (code & 0x3F));
  } else if (code < 0x10000) {
    out += static_cast<char>(0xE0 | code >> 12);
    out += static_cast<char>(0x80 | (code >> 6 & 0x3F));
    out += static_cast<char>(0x80 | (code & 0x3F));
  } else {
    out += static_cast<char>(0xF0 | code >> 18);
    out += static_cast<char>(0x80 | (code >> 12 & 0x3F));
    out += static_cast<char>(0x80 | (code >> 6 & 0x3F));
    out += static_cast<char>(0x80 | (code & 0x3F));
  }
}

}  // namespace

bool JsonScanner::string(std::string& out) {
  out.clear();
  if (!next_is('"')) return false;
  while (true) {
    if (!plain_run(out) || at_ == end_) return false;
    if (*at_++ == '"') return true;
    if (!escape(out)) return false;  // it was a backslash: plain_run stops at nothing else
  }
}

// Bytes up to a quote or backslash, which must be UTF-8 (nlohmann checks each sequence, and a
// sequence cannot straddle an escape) and hold no raw control character.
bool JsonScanner::plain_run(std::string& out) {
  const char* start = at_;
  at_ += json_plain_ascii_prefix({at_, static_cast<std::size_t>(end_ - at_)});  // most of it
  bool high = false;
  for (; at_ != end_; ++at_) {
    const auto byte = static_cast<unsigned char>(*at_);
    if (byte == '"' || byte == '\\') break;
    if (byte < 0x20) return false;
    high |= byte >= 0x80;
  }
  const std::string_view run(start, static_cast<std::size_t>(at_ - start));
  if (high && !is_valid_utf8(run)) return false;
  out.append(run);
  return true;
}

// After a backslash: the escapes JSON names, and \uXXXX.
bool JsonScanner::escape(std::string& out) {
  if (at_ == end_) return false;
  switch (const char c = *at_++) {
    case '"':
    case '\\':
    case '/':
      out += c;
      return true;
    case 'b':
      out += '\b';
      return true;
    case 'f':
      out += '\f';
      return true;
    case 'n':
      out += '\n';
      return true;
    case 'r':
      out += '\r';
      return true;
    case 't':
      out += '\t';
      return true;
    case 'u':
      return unicode(out);
    default:
      return false;
  }
}

// \uXXXX, or a surrogate pair \uD8xx\uDCxx; a lone surrogate is an error in nlohmann.
bool JsonScanner::unicode(std::string& out) {
  unsigned code = 0;
  if (!hex4(code) || (code >= 0xDC00 && code <= 0xDFFF)) return false;
  if (code >= 0xD800 && code <= 0xDBFF) {
    unsigned low = 0;
    if (end_ - at_ < 2 || at_[0] != '\\' || at_[1] != 'u') return false;
    at_ += 2;
    if (!hex4(low) || low < 0xDC00 || low > 0xDFFF) return false;
    code = 0x10000 + ((code - 0xD800) << 10) + (low - 0xDC00);
  }
  append_utf8(out, code);
  return true;
}

bool JsonScanner::hex4(unsigned& value) {
  if (end_ - at_ < 4) return false;
  for (int i = 0; i < 4; ++i) {
    const char c = *at_++;
    unsigned digit = 0;
    if (c >= '0' && c <= '9') {
      digit = static_cast<unsigned>(c - '0');
    } else if (c >= 'a' && c <= 'f') {
      digit = static_cast<unsigned>(c - 'a' + 10);
    } else if (c >= 'A' && c <= 'F') {
      digit = static_cast<unsigned>(c - 'A' + 10);
    } else {
      return false;
    }
    value = value << 4 | digit;
  }
  return true;
}

}  // namespace conveyor
