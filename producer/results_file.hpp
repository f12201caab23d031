// ResultsFile: the producer's output, one JSON object per line per task, in completion order:
//   {"id":"p1:41","seq":41,"status":"ok","output":"...","consumer":"c2","attempts":1}
// `output` is UTF-8 text when valid, else base64 with "encoding":"base64"; `error` is present when
// the status is not ok.
#pragma once

#include <cstdio>
#include <string>

#include "conveyor/common/batch_reader.hpp"
#include "conveyor/producer/resume.hpp"
#include "conveyor/proto/conveyor.pb.h"

namespace conveyor::producer {

// One results line for `result` of producer `producer_id` (without the newline).
std::string format_result_line(const std::string& producer_id, const ResultView& result);
// The same line appended to `line`: ResultsFile reuses one buffer for all of them.
void append_result_line(std::string& line, const std::string& producer_id,
                        const ResultView& result);

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

  void write(const std::string& producer_id, const ResultView& result);
  // Makes written lines visible to readers of the file; throws when the disk refused them.
  void flush();

 private:
  std::FILE* file_ = nullptr;
  bool owned_ = false;
  std::string path_;
  std::string line_;
};

}  // namespace conveyor::producer
