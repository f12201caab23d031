// What an earlier run of a producer left in its results file, for --resume (DESIGN.md §7.2): the
// tasks that already have a final result, and where the file's last complete line ends. A run
// killed while writing leaves a torn last line: it is not a result, and is cut before appending.
// Sans-IO: it reads the file's text, the shell does the file.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <unordered_map>

#include "conveyor/proto/conveyor.pb.h"

namespace conveyor::producer {

struct ResumePoint {
  std::unordered_map<std::uint64_t, wire::Status> final;  // seq -> the status it ended with
  std::size_t valid_bytes = 0;  // the file up to and with its last complete line
  std::size_t torn_bytes = 0;   // after it: a line the earlier run did not finish writing
};

// Reads the results lines of producer `producer_id` in `text`. Throws std::runtime_error naming
// the line when a complete line is not one (another producer's file, not a results file): the
// file is left alone rather than appended to.
ResumePoint scan_results(std::string_view text, const std::string& producer_id);

}  // namespace conveyor::producer
