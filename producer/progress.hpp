// Progress: what a person watching a producer sees on stderr. On a terminal, one line redrawn in
// place with a bar, rate and ETA; otherwise a plain line every few seconds; nothing when quiet.
// The final summary is printed either way.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "conveyor/common/clock.hpp"
#include "conveyor/producer/session.hpp"

namespace conveyor::producer {

class Progress {
 public:
  Progress(std::string id, bool quiet, bool terminal, TimePoint start);

  // Called often; draws at most every 200 ms on a terminal, every 5 s otherwise.
  void update(const Counts& counts, std::optional<std::uint64_t> total, TimePoint now);
  // The last line: tasks, outcome counts, seconds and rate.
  std::string summary(const Counts& counts, TimePoint now) const;
  void finish(const Counts& counts, TimePoint now);

 private:
  std::string id_;
  bool quiet_;
  bool terminal_;
  TimePoint start_;
  TimePoint last_draw_{};
  bool drawn_ = false;
};

}  // namespace conveyor::producer
