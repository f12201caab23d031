// Text encodings for the results file: JSON string escaping, UTF-8 validation, base64.
#pragma once

#include <string>
#include <string_view>

namespace conveyor {

// True when `bytes` is well-formed UTF-8 (no overlongs, no surrogates, nothing above U+10FFFF).
bool is_valid_utf8(std::string_view bytes);

// `bytes` itself when it is valid UTF-8; otherwise every byte above 0x7f is read as Latin-1, so
// that the text fits a protobuf `string` field or a JSON string and stays readable.
std::string to_valid_utf8(std::string_view bytes);

// Appends `text` (valid UTF-8) to `out` as the body of a JSON string, escaped.
void append_json_string(std::string& out, std::string_view text);

// Standard base64 (RFC 4648) with padding.
std::string base64_encode(std::string_view bytes);

}  // namespace conveyor
