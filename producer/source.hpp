// Sources of task payloads. A Source runs on the producer's reader thread, so next() may block;
// the I/O loop never waits for it.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>

namespace conveyor::producer {

class Source {
 public:
  virtual ~Source() = default;
  // The next payload, or nothing once the source is exhausted. May block; throws on a read error.
  virtual std::optional<std::string> next() = 0;
  // The same into `out` (its old content replaced), false once exhausted. A source that can
  // write into the buffer it is given saves an allocation per payload (the producer's reader
  // reuses one); by default, next() moved in.
  virtual bool next_into(std::string& out) {
    auto payload = next();
    if (!payload) return false;
    out = std::move(*payload);
    return true;
  }
  // True when next() would return without blocking: lets the reader send a short batch now
  // rather than wait for a slow source to fill it.
  virtual bool ready() { return true; }
  // Called from another thread to make a blocked next() return nothing promptly.
  virtual void interrupt() {}
  // How many payloads the source will give, when known in advance (for progress and ETA).
  virtual std::optional<std::uint64_t> size_hint() const { return std::nullopt; }
  // Whether a new run would give the same payloads in the same order (--resume relies on it:
  // seq N is the Nth payload). Stdin cannot be read again.
  virtual bool restartable() const { return true; }
};

// One payload per line of a file ("-" for stdin), without its line ending (\n or \r\n).
// Task seq N is line N (0-based), empty lines included. Throws if the file cannot be opened.
std::unique_ptr<Source> lines_source(const std::string& path);

// COUNT payloads: payload N is N in decimal, padded with '.' to `size` bytes when size is given.
std::unique_ptr<Source> generator_source(std::uint64_t count, std::optional<std::size_t> size);

// Payloads from a callback (the C++ API): return nothing when done. Called on the reader thread.
std::unique_ptr<Source> callback_source(std::function<std::optional<std::string>()> next);

// Parses a --source spec: "lines:PATH", "lines:-", "jsonl:PATH", "jsonl:-" (one JSON object per
// line: {"payload":"…"}, with "encoding":"base64" for bytes), "gen:COUNT" or "gen:COUNT:SIZE".
// Throws std::invalid_argument with a message naming the problem.
std::unique_ptr<Source> make_source(const std::string& spec);

// The payload generator_source gives for `seq` (tests use it to check results).
std::string generated_payload(std::uint64_t seq, std::optional<std::size_t> size);
// The same into `out`, reusing its buffer.
void write_generated_payload(std::string& out, std::uint64_t seq, std::optional<std::size_t> size);

}  // namespace conveyor::producer
