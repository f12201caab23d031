#include "conveyor/producer/source.hpp"

#include <fcntl.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cstring>
#include <stdexcept>
#include <system_error>

#include <nlohmann/json.hpp>

#include "conveyor/common/text.hpp"
#include "conveyor/producer/payload_line.hpp"

namespace conveyor::producer {
namespace {

// Reads lines from a file descriptor with its own buffer, so it can tell whether a line is
// available without blocking, and be interrupted while waiting for one.
class LinesSource final : public Source {
 public:
  LinesSource(int fd, bool owned)
      : fd_(fd), owned_(owned), restartable_(owned), wake_(eventfd(0, EFD_CLOEXEC)) {
    if (wake_ < 0) throw std::system_error(errno, std::generic_category(), "eventfd");
  }
  ~LinesSource() override {
    if (owned_) ::close(fd_);
    ::close(wake_);
  }

  std::optional<std::string> next() override {
    std::string line;
    if (!next_into(line)) return std::nullopt;
    return line;
  }

  bool next_into(std::string& line) override {
    while (true) {
      if (take_line(line)) return true;
      if (eof_) return take_last(line);
      if (!wait_readable(-1)) return false;  // interrupted
      fill();
    }
  }

  bool ready() override {
    return eof_ || buffer_.find('\n', scanned_) != std::string::npos || wait_readable(0);
  }

  void interrupt() override {
    const std::uint64_t one = 1;
    (void)!::write(wake_, &one, sizeof one);
  }

  bool restartable() const override { return restartable_; }

 private:
  // Into the caller's buffer, not a new string per line: the reader thread reuses one.
  bool take_line(std::string& line) {
    const auto end = buffer_.find('\n', scanned_);
    if (end == std::string::npos) {
      scanned_ = buffer_.size();
      return false;
    }
    std::size_t stop = end;
    if (stop > start_ && buffer_[stop - 1] == '\r') --stop;
    line.assign(buffer_, start_, stop - start_);
    start_ = scanned_ = end + 1;
    return true;
  }

  bool take_last(std::string& line) {
    if (start_ >= buffer_.size()) return false;
    line.assign(buffer_, start_);
    if (!line.empty() && line.back() == '\r') line.pop_back();
    start_ = scanned_ = buffer_.size();
    return true;
  }

  bool wait_readable(int timeout_ms) {
    pollfd fds[2] = {{fd_, POLLIN, 0}, {wake_, POLLIN, 0}};
    int n;
    do {
      n = ::poll(fds, 2, timeout_ms);
    } while (n < 0 && errno == EINTR);
    if (n < 0) throw std::system_error(errno, std::generic_category(), "poll on the source");
    if (fds[1].revents) return false;
    return fds[0].revents != 0;
  }

  void fill() {
    if (start_ > 0) {  // drop consumed bytes before growing the buffer
      buffer_.erase(0, start_);
      scanned_ -= start_;
      start_ = 0;
    }
    char chunk[65536];
    ssize_t n;
    do {
      n = ::read(fd_, chunk, sizeof chunk);
    } while (n < 0 && errno == EINTR);
    if (n < 0) throw std::system_error(errno, std::generic_category(), "reading the source");
    if (n == 0) eof_ = true;
    buffer_.append(chunk, static_cast<std::size_t>(n));
  }

  int fd_;
  bool owned_;
  bool restartable_;  // a file can be read again from its start; stdin cannot
  int wake_;
  bool eof_ = false;
  std::string buffer_;
  std::size_t start_ = 0;    // first byte of the next line
  std::size_t scanned_ = 0;  // bytes already searched for '\n'
};

class GeneratorSource final : public Source {
 public:
  GeneratorSource(std::uint64_t count, std::optional<std::size_t> size)
      : count_(count), size_(size) {}
  std::optional<std::string> next() override {
    if (seq_ >= count_) return std::nullopt;
    return generated_payload(seq_++, size_);
  }
  bool next_into(std::string& out) override {
    if (seq_ >= count_) return false;
    write_generated_payload(out, seq_++, size_);
    return true;
  }
  std::optional<std::uint64_t> size_hint() const override { return count_; }

 private:
  std::uint64_t count_;
  std::optional<std::size_t> size_;
  std::uint64_t seq_ = 0;
};

// One JSON object per line, {"payload":"…"} or {"payload":"<base64>","encoding":"base64"}: any
// bytes, newlines included (the Python package's conveyor.producer writes this to stdin).
class JsonLinesSource final : public Source {
 public:
  explicit JsonLinesSource(std::unique_ptr<Source> lines) : lines_(std::move(lines)) {}

  std::optional<std::string> next() override {
    std::string payload;
    if (!next_into(payload)) return std::nullopt;
    return payload;
  }
  bool next_into(std::string& payload) override {
    if (!lines_->next_into(line_)) return false;
    ++number_;
    try {
      payload_into(line_, payload);
    } catch (const std::exception& e) {
      throw std::runtime_error("jsonl: line " + std::to_string(number_) + ": " + e.what());
    }
    return true;
  }
  bool ready() override { return lines_->ready(); }
  void interrupt() override { lines_->interrupt(); }
  bool restartable() const override { return lines_->restartable(); }

 private:
  // The plain lines the Python package writes are read in place; the rest, and every error, as a
  // JSON document.
  void payload_into(const std::string& line, std::string& payload) {
    if (!reader_.read(line, payload)) {
      payload = payload_of(line);
      return;
    }
    if (!reader_.base64()) return;
    auto bytes = base64_decode(payload);
    if (!bytes) throw std::runtime_error("\"payload\" is not base64");
    payload = std::move(*bytes);
  }

  static std::string payload_of(const std::string& line) {
    const auto json = nlohmann::json::parse(line);
    const std::string payload = json.at("payload").get<std::string>();
    const auto encoding = json.find("encoding");
    if (encoding == json.end()) return payload;
    if (*encoding != "base64") throw std::runtime_error("\"encoding\" is not \"base64\"");
    auto bytes = base64_decode(payload);
    if (!bytes) throw std::runtime_error("\"payload\" is not base64");
    return std::move(*bytes);
  }

  std::unique_ptr<Source> lines_;
  std::string line_;  // reused for every line
  PayloadLineReader reader_;
  std::uint64_t number_ = 0;
};

class CallbackSource final : public Source {
 public:
  explicit CallbackSource(std::function<std::optional<std::string>()> next)
      : next_(std::move(next)) {}
  std::optional<std::string> next() override { return next_(); }

 private:
  std::function<std::optional<std::string>()> next_;
};

std::uint64_t parse_number(const std::string& text, const std::string& what) {
  std::size_t used = 0;
  unsigned long long value = 0;
  try {
    value = std::stoull(text, &used);
  } catch (const std::exception&) {
    used = 0;
  }
  if (used == 0 || used != text.size() || text.front() == '-') {
    throw std::invalid_argument(what + " must be a whole number, got '" + text + "'");
  }
  return value;
}

}  // namespace

std::string generated_payload(std::uint64_t seq, std::optional<std::size_t> size) {
  std::string payload;
  write_generated_payload(payload, seq, size);
  return payload;
}

void write_generated_payload(std::string& out, std::uint64_t seq, std::optional<std::size_t> size) {
  char digits[20];
  const auto n = static_cast<std::size_t>(std::to_chars(digits, digits + 20, seq).ptr - digits);
  if (!size) {
    out.assign(digits, n);
    return;
  }
  // Made at its size at once: to_string() then resize() grew it through a reallocation.
  out.assign(*size, '.');
  std::memcpy(out.data(), digits, std::min(n, *size));
}

std::unique_ptr<Source> lines_source(const std::string& path) {
  if (path == "-") return std::make_unique<LinesSource>(STDIN_FILENO, false);
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    throw std::invalid_argument("cannot open " + path + ": " + std::strerror(errno));
  }
  return std::make_unique<LinesSource>(fd, true);
}

std::unique_ptr<Source> generator_source(std::uint64_t count, std::optional<std::size_t> size) {
  return std::make_unique<GeneratorSource>(count, size);
}

std::unique_ptr<Source> callback_source(std::function<std::optional<std::string>()> next) {
  return std::make_unique<CallbackSource>(std::move(next));
}

std::unique_ptr<Source> make_source(const std::string& spec) {
  if (spec.rfind("lines:", 0) == 0) {
    const std::string path = spec.substr(6);
    if (path.empty()) throw std::invalid_argument("lines: needs a path, or - for stdin");
    return lines_source(path);
  }
  if (spec.rfind("jsonl:", 0) == 0) {
    const std::string path = spec.substr(6);
    if (path.empty()) throw std::invalid_argument("jsonl: needs a path, or - for stdin");
    return std::make_unique<JsonLinesSource>(lines_source(path));
  }
  if (spec.rfind("gen:", 0) == 0) {
    const std::string rest = spec.substr(4);
    const auto colon = rest.find(':');
    const std::uint64_t count = parse_number(rest.substr(0, colon), "gen: COUNT");
    std::optional<std::size_t> size;
    if (colon != std::string::npos) size = parse_number(rest.substr(colon + 1), "gen: SIZE");
    return generator_source(count, size);
  }
  throw std::invalid_argument("unknown source '" + spec +
                              "': use lines:PATH, lines:- (stdin), jsonl:PATH, jsonl:-, gen:COUNT "
                              "or gen:COUNT:SIZE");
}

}  // namespace conveyor::producer
