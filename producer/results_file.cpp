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

void append_number(std::string& line, std::uint64_t value) {
  char digits[20];
  const auto end = std::to_chars(std::begin(digits), std::end(digits), value).ptr;
  line.append(digits, end);
}

void append_id(std::string& line, const std::string& producer_id, const ResultView& result) {
  if (!result.id.empty()) {  // an emitted task's
    append_json_string(line, result.id);
    return;
  }
  // task_id(), written in place: one line per result, no string made for it
  append_json_string(line, producer_id);
  line += ':';
  append_number(line, result.seq);
}

// The output as JSON text when it is UTF-8, else base64 with "encoding" saying so.
void append_output(std::string& line, std::string_view output) {
  if (is_valid_utf8(output)) {
    append_json_string(line, output, true);
    line += '"';
  } else {
    line += base64_encode(output);
    line += "\",\"encoding\":\"base64\"";
  }
}

}  // namespace

std::string format_result_line(const std::string& producer_id, const ResultView& result) {
  std::string line;
  append_result_line(line, producer_id, result);
  return line;
}

void append_result_line(std::string& line, const std::string& producer_id,
                        const ResultView& result) {
  const bool emitted = !result.id.empty();
  line += "{\"id\":\"";
  append_id(line, producer_id, result);
  line += "\",\"seq\":";
  append_number(line, emitted ? root_seq(result.id) : result.seq);
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
  append_json_string(line, result.consumer);
  line += "\",\"attempts\":";
  append_number(line, result.attempts);
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
  std::fflush(file_);
  if (owned_) std::fclose(file_);
}

void ResultsFile::write(const std::string& producer_id, const ResultView& result) {
  if (file_ == nullptr) return;
  line_.clear();  // one buffer for every line: its capacity is kept
  append_result_line(line_, producer_id, result);
  line_.push_back('\n');
  std::fwrite(line_.data(), 1, line_.size(), file_);
}

void ResultsFile::flush() {
  if (file_ == nullptr) return;
  if (std::fflush(file_) != 0 || std::ferror(file_)) {
    throw std::runtime_error("writing --results " + path_ + ": " + std::strerror(errno));
  }
}

}  // namespace conveyor::producer
