#include "conveyor/producer/progress.hpp"

#include <cstdio>

#include <fmt/format.h>

#include "conveyor/common/logging.hpp"

namespace conveyor::producer {

Progress::Progress(std::string id, bool quiet, bool terminal, TimePoint start)
    : id_(std::move(id)), quiet_(quiet), terminal_(terminal), start_(start) {}

void Progress::update(const Counts& counts, std::optional<std::uint64_t> total, TimePoint now) {
  if (quiet_) return;
  const Duration every = terminal_ ? milliseconds(200) : milliseconds(5000);
  if (drawn_ && now - last_draw_ < every) return;
  if (!drawn_ && !terminal_ && now - start_ < every) return;
  last_draw_ = now;
  drawn_ = true;
  const double seconds = seconds_between(start_, now);
  const double rate = seconds > 0 ? static_cast<double>(counts.done()) / seconds : 0.0;
  std::string line;
  if (total && *total > 0) {
    const double fraction = static_cast<double>(counts.done()) / static_cast<double>(*total);
    const int filled = static_cast<int>(fraction * 30);
    const double eta = rate > 0 ? static_cast<double>(*total - counts.done()) / rate : 0.0;
    line = fmt::format("{} [{}{}] {:5.1f}% {}/{} · {:.0f} tasks/s · ETA {:.0f}s", id_,
                       std::string(static_cast<std::size_t>(filled), '#'),
                       std::string(static_cast<std::size_t>(30 - filled), '.'), fraction * 100,
                       counts.done(), *total, rate, eta);
  } else {
    line = fmt::format("{} {} done of {} read · {:.0f} tasks/s", id_, counts.done(),
                       counts.produced, rate);
  }
  if (counts.failed + counts.dead > 0) {
    line += fmt::format(" · {} failed, {} dead", counts.failed, counts.dead);
  }
  if (log_format() == LogFormat::json) {
    logger("progress")->info(line);  // stderr holds one JSON object per line: no bar
  } else if (terminal_) {
    std::fprintf(stderr, "\r%s\033[K", line.c_str());
  } else {
    std::fprintf(stderr, "%s\n", line.c_str());
  }
  std::fflush(stderr);
}

std::string Progress::summary(const Counts& counts, TimePoint now) const {
  const double seconds = seconds_between(start_, now);
  const double rate =
      seconds > 0 ? static_cast<double>(counts.done() - counts.resumed) / seconds : 0.0;
  const std::string resumed =
      counts.resumed > 0 ? fmt::format(" ({} from the results file)", counts.resumed) : "";
  return fmt::format("{}: {} tasks{}: {} ok, {} failed, {} dead in {:.2f} s ({:.0f} tasks/s)", id_,
                     counts.done(), resumed, counts.ok, counts.failed, counts.dead, seconds, rate);
}

void Progress::finish(const Counts& counts, TimePoint now) {
  if (log_format() == LogFormat::json) {
    logger("progress")->info(summary(counts, now));
    return;
  }
  if (terminal_ && drawn_) std::fprintf(stderr, "\r\033[K");
  std::fprintf(stderr, "%s\n", summary(counts, now).c_str());
  std::fflush(stderr);
}

}  // namespace conveyor::producer
