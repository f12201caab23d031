#include "conveyor/ctl/watch.hpp"

#include <poll.h>

#include <algorithm>
#include <limits>

namespace conveyor::ctl {
namespace {

constexpr std::string_view kHome = "\x1b[H";          // cursor to the top left corner
constexpr std::string_view kClearScreen = "\x1b[2J";  // the whole screen
constexpr std::string_view kClearLine = "\x1b[K";     // from the cursor to the end of its row
constexpr std::string_view kClearBelow = "\x1b[J";    // from the cursor to the end of the screen

}  // namespace

WatchOutput watch_output(bool json, bool terminal) {
  if (json) return WatchOutput::lines;
  return terminal ? WatchOutput::redraw : WatchOutput::blocks;
}

std::string watch_frame(WatchOutput output, std::string_view body, bool first) {
  if (output == WatchOutput::lines) return std::string(body);
  if (output == WatchOutput::blocks) return (first ? "" : "\n") + std::string(body);
  std::string out(first ? kClearScreen : "");
  out += kHome;
  for (std::size_t start = 0; start < body.size();) {
    const std::size_t end = std::min(body.find('\n', start), body.size());
    out.append(body.substr(start, end - start));
    out += kClearLine;
    if (end < body.size()) out += '\n';
    start = end + 1;
  }
  out += kClearBelow;
  return out;
}

bool wait_readable(int fd, Duration limit) {
  pollfd item{fd, POLLIN, 0};
  // Rounded up: a wait cut short by rounding down would refresh a little early every time.
  const long long ms = std::clamp<long long>(std::chrono::ceil<milliseconds>(limit).count(), 0,
                                             std::numeric_limits<int>::max());
  return ::poll(&item, 1, static_cast<int>(ms)) > 0 && (item.revents & POLLIN) != 0;
}

}  // namespace conveyor::ctl
