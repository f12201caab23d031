// broker::Run: the poison-pill rules of DESIGN.md §2, in one place. A run lasts from its first
// producer's hello to its drain; Run holds every producer's part in it (joined, pilled, vanished)
// and decides when the run is drained. broker::Core tells it what producers did and asks it; the
// messages a decision leads to (pills, Drained) are Core's to send. Sans-IO, like Core.
//
//   §2.1  A pill means "no more" from its producer, once: a second pill counts for nothing.
//         --producers N waits for N pills, and is a floor, not a cap (a producer beyond N that said
//         hello may still send work); without it, every producer that said hello must pill. A
//         producer gone having sent neither a task nor its pill is not waited for.
//   §2.2  Drained: every expected pill, no task held anywhere, every result acknowledged. A
//         producer gone past --producer-timeout counts as pilled and is not waited for.
//   §2.4  After the drain, a consumer that connects is pilled at once (not in --service mode,
//         where consumers stay for the next run until a stop).
//   §2.5  A stop (SIGTERM) drains what is held without waiting for pills.
// §2.3 (a pill never overtakes work) holds because a drain needs no task held anywhere; §2.6
// (exact counts) because each rule above counts a producer once, by its slot.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <optional>
#include <vector>

namespace conveyor::broker {

class Run {
 public:
  // `expected`: --producers N. `service`: --service.
  Run(std::optional<std::uint32_t> expected, bool service);

  // §2.1: the producer in `slot` said hello. After a drain, a producer process that was never
  // welcomed (`resuming` false) is new work, even under an id of the drained run, and starts a
  // new run; a reconnecting one of the drained run is told it is over. True when it is the first
  // producer of its run (the run's clock starts).
  bool on_hello(std::uint32_t slot, bool resuming);
  // §2.1: true for the first pill of a producer that takes part; false for any other.
  bool on_pill(std::uint32_t slot);
  // §2.2: the producer has been gone past --producer-timeout: counted as pilled.
  void on_vanished(std::uint32_t slot);
  // The broker accepted a task from the producer in this run.
  void on_work(std::uint32_t slot);
  // §2.1: the producer's session is gone (goodbye, missed heartbeats, unreachable). One that sent
  // neither a task nor its pill leaves the run: a hello and nothing more is not a producer the
  // drain should wait for (a crashed start, a port probe). True when it left.
  bool on_gone(std::uint32_t slot);

  // §2.2 and §2.5: the run may be declared drained, no task being held. `awaits_acks(slot)`: the
  // producer in `slot` still has results to acknowledge that the drain must wait for.
  bool ready_to_drain(bool stopping, const std::function<bool(std::uint32_t)>& awaits_acks) const;
  // §2.1 and §2.5: every expected producer has pilled (or vanished), or a stop says not to wait.
  bool producers_done(bool stopping) const {
    return stopping || (joined_ > 0 && done_ >= pills_needed());
  }
  void declare_drained() { drained_ = true; }
  // §2.4: consumers are done with (pilled, and pilled at once when they connect).
  bool consumers_released(bool stopping) const { return drained_ && (stopping || !service_); }

  bool drained() const { return drained_; }
  bool joined(std::uint32_t slot) const { return state(slot).joined; }
  bool pilled(std::uint32_t slot) const { return state(slot).pilled; }
  bool vanished(std::uint32_t slot) const { return state(slot).vanished; }
  // Producers taking part, and those done (pilled or vanished).
  std::size_t producers() const { return joined_; }
  std::size_t done() const { return done_; }
  // Pills the drain waits for: N with --producers N, or every producer that joined, if more.
  std::size_t pills_needed() const;

 private:
  struct Part {
    bool joined = false;
    bool pilled = false;
    bool vanished = false;
    bool worked = false;  // sent a task in this run
  };

  const Part& state(std::uint32_t slot) const;
  void start_new_run();

  std::optional<std::uint32_t> expected_;
  bool service_;
  std::vector<Part> parts_;  // by producer slot
  std::size_t joined_ = 0;
  std::size_t done_ = 0;  // joined, and pilled or vanished
  bool drained_ = false;
};

}  // namespace conveyor::broker
