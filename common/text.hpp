// Text encodings for the results file: JSON string escaping, UTF-8 validation, base64.
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>

namespace conveyor {

// True when `bytes` is well-formed UTF-8 (no overlongs, no surrogates, nothing above U+10FFFF).
bool is_valid_utf8(std::string_view bytes);
// Every byte below 0x80 (so also valid UTF-8); checked eight bytes at a time.
bool is_ascii(std::string_view bytes);

// `bytes` itself when it is valid UTF-8; otherwise every byte above 0x7f is read as Latin-1, so
// that the text fits a protobuf `string` field or a JSON string and stays readable.
std::string to_valid_utf8(std::string_view bytes);

// At most `most` bytes from the start (prefix) or the end (suffix) of `text`, cut between
// characters: a cut inside one would leave invalid UTF-8, and to_valid_utf8 would then turn every
// character of a shortened error text into Latin-1 pairs, not just the cut one.
std::string_view utf8_prefix(std::string_view text, std::size_t most);
std::string_view utf8_suffix(std::string_view text, std::size_t most);

// Appends `bytes` to `out` as the body of a JSON string: quote, backslash and control characters
// escaped (\n \r \t \b \f by name, others as \u00XX). JSON text is UTF-8, so bytes that are not
// valid UTF-8 are read as Latin-1, each above 0x7f written as \u00XX: the results file, the
// pipe: protocol and JSON log lines all stay parseable whatever a handler or a peer sent.
void append_json_string(std::string& out, std::string_view bytes);
// The same when `bytes` is valid UTF-8, and true; otherwise false, and `out` as it was (the
// producer then writes the bytes as base64). One pass checks and escapes: a 1 KiB result is read
// once, not first validated and then escaped.
bool append_json_utf8(std::string& out, std::string_view bytes);

// Appends `value` in decimal, without a temporary string.
void append_decimal(std::string& out, std::uint64_t value);

// How many bytes at the start of `bytes` are printable ASCII other than '"' and '\\': text a JSON
// string holds as it is. Found sixteen bytes at a time, so it may stop short of the first byte
// that is not: a reader looks at the rest itself (common/json_scanner.cpp).
std::size_t json_plain_ascii_prefix(std::string_view bytes);

// Standard base64 (RFC 4648) with padding, through OpenSSL (EVP_EncodeBlock).
std::string base64_encode(std::string_view bytes);
// The bytes of standard padded base64 text; nothing when it is not (EVP_DecodeBlock).
std::optional<std::string> base64_decode(std::string_view text);

}  // namespace conveyor
