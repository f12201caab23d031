// PayloadLineReader: the fast path of the jsonl: source, a line read without building a JSON
// document.
//
// Why: nlohmann::json::parse cost the producer about 11,500 instructions per 64-byte task (a
// document, a map node and strings per line: `SOURCE=jsonl ROLES=producer bench/callgrind.sh`),
// six times all the rest of its work, and jsonl: is the source the Python package's
// conveyor.producer writes to.
//
// The rule that keeps it safe, as in BatchReader: the reader takes only lines it reads exactly as
// nlohmann does, and says "not mine" to everything else: a member whose value is not a string, a
// key given twice, an "encoding" other than "base64", a lone surrogate, text that is not UTF-8,
// a raw control character, a byte order mark, anything after the object. The caller then parses
// the line the ordinary way, which gives the payload, or the error, it gave before
// (tests/unit/payload_line_test.cpp checks both on mutated lines).
#pragma once

#include <string>
#include <string_view>

namespace conveyor::producer {

class PayloadLineReader {
 public:
  // Reads {"payload":"…"} or {"payload":"…","encoding":"base64"} (members in any order, others
  // with string values ignored, JSON whitespace anywhere between tokens): the payload's text into
  // `payload` (its old content replaced; still base64 when base64() says so). False: not a line
  // this reader takes; `payload` is then unspecified.
  bool read(std::string_view line, std::string& payload);
  // Whether the last line read said "encoding":"base64".
  bool base64() const { return base64_; }

 private:
  std::string scratch_;  // keys and ignored values, reused
  bool base64_ = false;
};

}  // namespace conveyor::producer
