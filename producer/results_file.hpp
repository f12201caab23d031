// ResultsFile: the producer's output, one JSON object per line per task, in completion order:
//   {"id":"p1:41","seq":41,"status":"ok","output":"...","consumer":"c2","attempts":1}
// `output` is UTF-8 text when valid, else base64 with "encoding":"base64"; `error` is present when
// the status is not ok.
#pragma once

#include <cstdio>
#include <string>

#include "conveyor/proto/conveyor.pb.h"

namespace conveyor::producer {

// One results line for `result` of producer `producer_id` (without the newline).
std::string format_result_line(const std::string& producer_id, const wire::Result& result);

class ResultsFile {
 public:
  // "" writes nothing, "-" writes to stdout; throws std::runtime_error if the file cannot open.
  explicit ResultsFile(const std::string& path);
  ~ResultsFile();
  ResultsFile(const ResultsFile&) = delete;
  ResultsFile& operator=(const ResultsFile&) = delete;

  void write(const std::string& producer_id, const wire::Result& result);
  // Makes written lines visible to readers of the file; throws when the disk refused them.
  void flush();

 private:
  std::FILE* file_ = nullptr;
  bool owned_ = false;
  std::string path_;
  std::string line_;
};

}  // namespace conveyor::producer
