// JsonScanner: reads JSON text token by token, for readers that take only the simple lines they can
// vouch for and leave everything else to nlohmann (producer/payload_line.hpp, the jsonl: source;
// consumer/pipe_protocol.cpp, pipe: answers).
//
// Each read returns false on anything it does not take, exactly or at all: the caller then gives
// up on the whole line and parses it as a JSON document. What it does take, it reads as nlohmann
// does: strings are checked for UTF-8 and raw control characters, escapes decoded, surrogate pairs
// joined, and a lone surrogate refused.
#pragma once

#include <string>
#include <string_view>

namespace conveyor {

class JsonScanner {
 public:
  explicit JsonScanner(std::string_view text) : at_(text.data()), end_(text.data() + text.size()) {}

  // After any whitespace, `c`: consumed.
  bool next_is(char c) {
    skip_space();
    if (at_ == end_ || *at_ != c) return false;
    ++at_;
    return true;
  }
  // Nothing but whitespace is left.
  bool at_end() {
    skip_space();
    return at_ == end_;
  }
  // After any whitespace, a string: its text, unescaped, into `out` (its old content replaced).
  bool string(std::string& out);

 private:
  void skip_space() {
    while (at_ != end_ && (*at_ == ' ' || *at_ == '\t' || *at_ == '\n' || *at_ == '\r'))
      ++at_;
  }
  bool plain_run(std::string& out);
  bool escape(std::string& out);
  bool unicode(std::string& out);
  bool hex4(unsigned& value);

  const char* at_;
  const char* end_;
};

}  // namespace conveyor
