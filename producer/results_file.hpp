// ResultsFile: the producer's output, one JSON object per line per task, in completion order:
//   {"id":"p1:41","seq":41,"status":"ok","output":"...","consumer":"c2","attempts":1}
// `output` is UTF-8 text when valid, else base64 with "encoding":"base64"; `error` is present when
// the status is not ok.
#pragma once

#include <cstdio>
#include <string>
#include <string_view>

#include "conveyor/common/batch_reader.hpp"
#include "conveyor/producer/resume.hpp"
#include "conveyor/proto/conveyor.pb.h"

namespace conveyor::producer {

// One results line for `result` of producer `producer_id` (without the newline).
std::string format_result_line(const std::string& producer_id, const ResultView& result);

// Writes results lines, line after line. It keeps the producer's id and the last consumer's as
// JSON text for the next lines, which mostly name the same two: escaping them for every line cost
// about 300 of the producer's instructions per task (callgrind, BENCHMARKS.md).
class ResultLines {
 public:
  // The line for `result` appended to `line` (without the newline).
  void append(std::string& line, const std::string& producer_id, const ResultView& result);

 private:
  std::string_view escaped_producer(const std::string& producer_id);
  std::string_view escaped_consumer(std::string_view consumer);

  std::string producer_, producer_json_;
  std::string consumer_, consumer_json_;
};

// --resume: what an earlier run left at `path` (nothing when there is no file), its torn last
// line cut off. Throws std::runtime_error when it cannot be read or is not this producer's.
ResumePoint read_resume_point(const std::string& path, const std::string& producer_id);

class ResultsFile {
 public:
  // "" writes nothing, "-" writes to stdout; a file is replaced, or appended to with `append`.
  // Throws std::runtime_error if the file cannot open.
  explicit ResultsFile(const std::string& path, bool append = false);
  ~ResultsFile();
  ResultsFile(const ResultsFile&) = delete;
  ResultsFile& operator=(const ResultsFile&) = delete;

  // Adds the line of `result`; it reaches the file at flush() at the latest.
  void write(const std::string& producer_id, const ResultView& result);
  // Makes written lines visible to readers of the file; throws when the disk refused them.
  void flush();

 private:
  // Lines are gathered and handed to stdio this many bytes at a time, not one fwrite() each (a
  // locked call per task). Not on stdout: whatever else the process prints there (an on_result
  // callback, say) keeps its place between the lines.
  static constexpr std::size_t kWriteBytes = std::size_t{64} << 10;

  void write_pending();

  std::FILE* file_ = nullptr;
  bool owned_ = false;
  std::string path_;
  ResultLines lines_;
  std::string pending_;  // lines not yet handed to stdio
  std::size_t write_bytes_ = kWriteBytes;
};

}  // namespace conveyor::producer
