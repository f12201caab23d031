#include "conveyor/broker/run.hpp"

#include <algorithm>

namespace conveyor::broker {

Run::Run(std::optional<std::uint32_t> expected, bool service)
    : expected_(expected), service_(service) {}

const Run::Part& Run::state(std::uint32_t slot) const {
  static const Part absent;
  return slot < parts_.size() ? parts_[slot] : absent;
}

bool Run::on_hello(std::uint32_t slot, bool resuming) {
  if (drained_ && (!joined(slot) || !resuming)) start_new_run();
  if (slot >= parts_.size()) parts_.resize(slot + 1);
  Part& part = parts_[slot];
  const bool first = joined_ == 0;
  if (!part.joined) {
    part.joined = true;
    ++joined_;
  }
  if (part.vanished) {  // back before anyone gave up on it: waited for again
    part.vanished = false;
    if (!part.pilled) --done_;
  }
  return first;
}

bool Run::on_pill(std::uint32_t slot) {
  if (!joined(slot) || pilled(slot)) return false;  // §2.1: one producer, one pill
  Part& part = parts_[slot];
  part.pilled = true;
  if (!part.vanished) ++done_;
  return true;
}

void Run::on_vanished(std::uint32_t slot) {
  if (!joined(slot) || vanished(slot)) return;
  Part& part = parts_[slot];
  part.vanished = true;
  if (!part.pilled) ++done_;
}

void Run::on_work(std::uint32_t slot) {
  if (joined(slot)) parts_[slot].worked = true;
}

bool Run::on_gone(std::uint32_t slot) {
  if (!joined(slot) || pilled(slot) || parts_[slot].worked) return false;
  Part& part = parts_[slot];
  if (part.vanished) --done_;
  part = Part{};
  --joined_;
  return true;
}

std::size_t Run::pills_needed() const {
  // §2.1: --producers N is a floor, not a cap: a producer beyond N that said hello may still send
  // work, and draining without its pill would pill the consumers before its tasks are done.
  return std::max<std::size_t>(expected_.value_or(0), joined_);
}

bool Run::ready_to_drain(bool stopping,
                         const std::function<bool(std::uint32_t)>& awaits_acks) const {
  if (drained_) return false;
  // §2.2: work is over only when producers have every result; a vanished one is not waited for.
  for (std::uint32_t slot = 0; slot < parts_.size(); ++slot) {
    if (parts_[slot].joined && !parts_[slot].vanished && awaits_acks(slot)) return false;
  }
  return producers_done(stopping);  // §2.5: when stopping, pills are not waited for
}

void Run::start_new_run() {
  drained_ = false;
  parts_.assign(parts_.size(), Part{});
  joined_ = 0;
  done_ = 0;
}

}  // namespace conveyor::broker
