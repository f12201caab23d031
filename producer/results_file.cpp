#include "conveyor/producer/results_file.hpp"

#include <unistd.h>

#include <cerrno>
#include <charconv>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <iterator>
#include <stdexcept>

#include "conveyor/common/task.hpp"
#include "conveyor/common/text.hpp"

namespace conveyor::producer {
namespace {

const char* status_name(wire::Status status) {
  switch (status) {
    case wire::OK:
      return "ok";
    case wire::DEAD:
      return "dead";
    default:
      return "failed";
  }
}

// The seq an emitted task's line shows: its root task's, the source position it comes from
// ("p1:41/0/2" -> 41).
std::uint64_t root_seq(std::string_view id) {
  const auto colon = id.find(':');
  std::uint64_t seq = 0;
  // from_chars, not strtoull: the id is a view into a frame, with no NUL after it
  if (colon != std::string_view::npos)
    std::from_chars(id.data() + colon + 1, id.data() + id.size(), seq);
  return seq;
}

// A number's decimal digits, written once for the two places a line may show them.
class Digits {
 public:
  explicit Digits(std::uint64_t value)
      : end_(std::to_chars(std::begin(digits_), std::end(digits_), value).ptr) {}
  std::string_view view() const { return std::string_view(digits_, end_); }

 private:
  char digits_[20];
  const char* end_;
};

std::string json_text(std::string_view text) {
  std::string json;
  append_json_string(json, text);
  return json;
}

// The output as JSON text when it is UTF-8, else base64 with "encoding" saying so.
void append_output(std::string& line, std::string_view output) {
  if (append_json_utf8(line, output)) {
    line += '"';
  } else {
    line += base64_encode(output);
    line += "\",\"encoding\":\"base64\"";
  }
}

}  // namespace

std::string format_result_line(const std::string& producer_id, const ResultView& result) {
  std::string line;
  ResultLines().append(line, producer_id, result);
  return line;
}

std::string_view ResultLines::escaped_producer(const std::string& producer_id) {
  if (producer_id != producer_) {
    producer_ = producer_id;
    producer_json_ = json_text(producer_id);
  }
  return producer_json_;
}

std::string_view ResultLines::escaped_consumer(std::string_view consumer) {
  if (consumer != consumer_) {
    consumer_ = consumer;
    consumer_json_ = json_text(consumer);
  }
  return consumer_json_;
}

void ResultLines::append(std::string& line, const std::string& producer_id,
                         const ResultView& result) {
  const bool emitted = !result.id.empty();
  const Digits seq(emitted ? root_seq(result.id) : result.seq);
  line += "{\"id\":\"";
  if (emitted) {
    append_json_string(line, result.id);
  } else {  // task_id(), written in place: no string made for it
    line += escaped_producer(producer_id);
    line += ':';
    line += seq.view();
  }
  line += "\",\"seq\":";
  line += seq.view();
  line += ",\"status\":\"";
  line += status_name(result.status);
  line += "\",\"output\":\"";
  append_output(line, result.output);
  if (result.status != wire::OK) {
    line += ",\"error\":\"";
    append_json_string(line, result.error);
    line += '"';
  }
  line += ",\"consumer\":\"";
  line += escaped_consumer(result.consumer);
  line += "\",\"attempts\":";
  line += Digits(result.attempts).view();
  if (emitted) {
    line += ",\"queue\":\"";
    append_json_string(line, result.queue);
    line += "\",\"parent\":\"";
    append_json_string(line, result.parent);
    line += '"';
  }
  line += '}';
}

ResumePoint read_resume_point(const std::string& path, const std::string& producer_id) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    if (errno == ENOENT) return {};  // nothing to resume: the run starts from its beginning
    throw std::runtime_error("cannot read --results " + path + ": " + std::strerror(errno));
  }
  const std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  ResumePoint point;
  try {
    point = scan_results(text, producer_id);
  } catch (const std::exception& e) {
    throw std::runtime_error("--resume: " + path + " " + e.what());
  }
  if (point.torn_bytes > 0 &&
      ::truncate(path.c_str(), static_cast<off_t>(point.valid_bytes)) != 0) {
    throw std::runtime_error("--resume: cannot cut the torn last line of " + path + ": " +
                             std::strerror(errno));
  }
  return point;
}

ResultsFile::ResultsFile(const std::string& path, bool append) : path_(path) {
  if (path.empty()) return;
  if (path == "-") {
    file_ = stdout;
    write_bytes_ = 0;
    return;
  }
  file_ = std::fopen(path.c_str(), append ? "a" : "w");
  if (file_ == nullptr) {
    throw std::runtime_error("cannot write --results " + path + ": " + std::strerror(errno));
  }
  owned_ = true;
  std::setvbuf(file_, nullptr, _IOFBF, 1 << 20);
}

ResultsFile::~ResultsFile() {
  if (file_ == nullptr) return;
  write_pending();
  std::fflush(file_);
  if (owned_) std::fclose(file_);
}

void ResultsFile::write(const std::string& producer_id, const ResultView& result) {
  if (file_ == nullptr) return;
  lines_.append(pending_, producer_id, result);
  pending_.push_back('\n');
  if (pending_.size() >= write_bytes_) write_pending();
}

// A short write shows in ferror(), which flush() checks.
void ResultsFile::write_pending() {
  if (!pending_.empty()) std::fwrite(pending_.data(), 1, pending_.size(), file_);
  pending_.clear();
  // One huge output must not leave its buffer behind for the small lines after it.
  if (pending_.capacity() > 4 * kWriteBytes) std::string().swap(pending_);
}

void ResultsFile::flush() {
  if (file_ == nullptr) return;
  write_pending();
  if (std::fflush(file_) != 0 || std::ferror(file_)) {
    throw std::runtime_error("writing --results " + path_ + ": " + std::strerror(errno));
  }
}

}  // namespace conveyor::producer
