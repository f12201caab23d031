// A broker's --ready-file as conveyor-ctl reads it: the JSON object {"frontend", "backend",
// "admin", "pid"} the broker writes once its sockets are bound (ephemeral ports resolved), so
// that `conveyor-ctl status --ready-file PATH` asks that broker and no other.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "conveyor/common/expected.hpp"
#include "conveyor/proto/conveyor.pb.h"

namespace conveyor::ctl {

struct ReadyFile {
  std::string admin;     // the broker's bound --admin endpoint
  std::int64_t pid = 0;  // 0 when the file does not say
};

// The file's text parsed; one error line naming `path` when it is not a ready file or names no
// admin endpoint (the broker runs with --admin '').
Expected<ReadyFile, std::string> parse_ready_file(std::string_view text, const std::string& path);

// `path` read and parsed; one error line also when it is missing or cannot be read.
Expected<ReadyFile, std::string> read_ready_file(const std::string& path);

// One error line when the broker that answered is not the one that wrote the file (another pid:
// the file outlived its broker, and another took its port); nothing when they agree or either
// side does not say.
std::optional<std::string> wrong_broker(const ReadyFile& file, const wire::StatusReply& reply,
                                        const std::string& path);

}  // namespace conveyor::ctl
