// conveyor-ctl status --watch: the same status again every --interval until SIGINT or SIGTERM.
// How each refresh is written, apart from the loop that fetches it.
#pragma once

#include <string>
#include <string_view>

#include "conveyor/common/clock.hpp"

namespace conveyor::ctl {

enum class WatchOutput {
  redraw,  // a terminal: the screen drawn over in place, with ANSI codes only here
  blocks,  // a pipe or file: one table after another, a blank line between them
  lines,   // --json: one JSON object per line, on a terminal too (a stream for scripts)
};

WatchOutput watch_output(bool json, bool terminal);

// What to write for one refresh showing `body` (text ending in a newline). Redrawn, each line
// ends by clearing the rest of its row and the frame by clearing what is below it, so a shorter
// table leaves nothing of the last one and the screen is not blanked between refreshes
// (no flicker); the first refresh clears the screen once.
std::string watch_frame(WatchOutput output, std::string_view body, bool first);

// Waits until `fd` is readable (the watch's signalfd: a signal came) or `limit` passes; true when
// it is readable. A limit of zero or less only looks.
bool wait_readable(int fd, Duration limit);

}  // namespace conveyor::ctl
