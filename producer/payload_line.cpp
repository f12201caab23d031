// PayloadLineReader: jsonl: lines read in place (payload_line.hpp says what it takes).
#include "conveyor/producer/payload_line.hpp"

#include "conveyor/common/json_scanner.hpp"

namespace conveyor::producer {

bool PayloadLineReader::read(std::string_view line, std::string& payload) {
  JsonScanner in(line);
  base64_ = false;
  bool has_payload = false;
  bool has_encoding = false;
  if (!in.next_is('{')) return false;  // a byte order mark, or not an object
  do {
    if (!in.string(scratch_) || !in.next_is(':')) return false;
    if (scratch_ == "payload") {
      if (has_payload || !in.string(payload)) return false;  // twice: nlohmann keeps the last
      has_payload = true;
    } else if (scratch_ == "encoding") {
      if (has_encoding || !in.string(scratch_) || scratch_ != "base64") return false;
      has_encoding = base64_ = true;
    } else if (!in.string(scratch_)) {
      return false;  // another member, not a string: a number, an object...
    }
  } while (in.next_is(','));
  return in.next_is('}') && in.at_end() && has_payload;
}

}  // namespace conveyor::producer
