// producer::Session: a producer's protocol logic with no sockets (sans-IO), driven by the shell
// with envelopes, source payloads, signals and clock ticks.
//
// It keeps every task without a final result (at most `window` of them) so that nothing is lost
// when the broker restarts or the link drops: after each Welcome it sends all of them again and
// the broker ignores those it already holds. It sends only within the broker's credit, drops
// duplicate results, acknowledges every result, and sends its pill once the source is exhausted
// and everything read has been sent. It is done when every task has a final result (its join()).
// It also paces the source (plan_source) and decides what a signal means (on_signal).
#pragma once

#include <cstdint>
#include <deque>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include <spdlog/logger.h>

#include "conveyor/common/batch_reader.hpp"
#include "conveyor/common/batch_writer.hpp"
#include "conveyor/common/broker_link.hpp"
#include "conveyor/common/client_session.hpp"
#include "conveyor/common/clock.hpp"
#include "conveyor/common/seq_table.hpp"
#include "conveyor/producer/final_results.hpp"
#include "conveyor/producer/resume.hpp"
#include "conveyor/producer/source_batch.hpp"
#include "conveyor/proto/conveyor.pb.h"

namespace conveyor::producer {

// A task without a final result: its payload, kept to send again after a reconnect. Pooled by
// SeqTable: a node-based map allocated and freed a node per task (about a tenth of the producer's
// instructions at 64 B, BENCHMARKS.md). The payload's buffer is freed with its task, not kept:
// every new task brings a buffer of its own from the source.
struct UnfinishedTask {
  std::string payload;
  void reset() { empty_keeping_small_buffer(payload); }  // the next task's copy reuses it
};

struct SessionConfig : LinkConfig {
  std::size_t window = 10000;   // tasks without a final result held at most
  bool allow_failures = false;  // --allow-failures: failed or dead tasks do not make it exit 3
};

// Exit status of a producer whose every task has a final result, some of them failed or dead.
inline constexpr int kExitSomeTasksFailed = 3;

// Counts a producer reports in its summary.
struct Counts {
  std::uint64_t produced = 0;  // read from the source
  std::uint64_t resumed = 0;   // of them, final in the results file already (--resume): not sent
  std::uint64_t ok = 0;
  std::uint64_t failed = 0;
  std::uint64_t dead = 0;
  std::uint64_t duplicates = 0;  // results dropped because the task was final already
  std::uint64_t emitted = 0;     // results of tasks emitted under ours (--emit-to), in the above
  std::uint64_t done() const { return ok + failed + dead; }
};

// What the shell does with the source reader this round.
struct SourcePlan {
  std::size_t request = 0;   // ask the reader for up to this many payloads (0: nothing now)
  bool stop_reader = false;  // stop the reader thread: the source is over (a signal said so)
};

class Session final : public ClientSession {
 public:
  enum class Phase { connecting, running, done, failed };

  // A first signal lets a read already under way finish for this long, then stops the reader.
  static constexpr Duration kStopReadingGrace = milliseconds(200);

  Session(SessionConfig config, TimePoint now);

  void on_connect(TimePoint now) override;
  // Result batches are read in place (BatchReader): the results keep `owner` until written.
  bool on_frame(std::string_view frame, const std::shared_ptr<const void>& owner,
                TimePoint now) override;
  void on_envelope(wire::Envelope& envelope, TimePoint now) override;
  void on_tick(TimePoint now) override;
  // Emits tasks within credit, acks, the pill and the goodbye, as the state allows.
  void flush(TimePoint now) override;

  // The first signal stops reading the source (the pill follows what was read); the second
  // stops at once.
  SignalAction on_signal(int signo, TimePoint now) override;
  // Source pacing: how much to ask the reader for, given whether it is reading already. It asks
  // in sizeable chunks when busy and at once when idle, so a slow source is not held back.
  SourcePlan plan_source(bool reader_busy, TimePoint now);
  // Payloads the reader read; `end` when the source is exhausted, `error` when it failed.
  void on_source_batch(const SourceBatch& batch);
  // How many more payloads the source may hand over now (the window's free room).
  std::size_t source_room() const;
  void add_task(std::string_view payload);
  // --resume: these tasks have their final result from an earlier run. They are counted with
  // their status and skipped when the source gives them again (seq N is still line N).
  void resume(const ResumePoint& point);
  // The source is exhausted (or a signal said to stop reading it): the pill follows the last task.
  void end_of_source() { source_ended_ = true; }
  bool source_ended() const { return source_ended_; }
  // Gives up (the results file cannot be written, say): the producer exits 1 with `why`.
  void fail(std::string why) { link_.fail(std::move(why)); }

  // Final results since the last call, in completion order; `seq` is set, `producer` is not.
  FinalResults& finished_results() { return finished_; }

  Phase phase() const;
  // The process's exit status once finished: 1 when it failed or its source did; 3 when every
  // task has a final result and some failed or died (unless allow_failures); else 0.
  int exit_status() const;
  // Why exit_status() is not 0.
  std::string failure() const;
  const Counts& counts() const { return counts_; }
  std::size_t unfinished() const { return unfinished_.size(); }
  // Our tasks, and the tasks emitted under them, that have no final result yet.
  std::size_t outstanding() const;
  const std::string& id() const { return config_.id; }

 private:
  bool done() const override { return done_; }
  void on_welcome(LinkEvent event, TimePoint now);
  void on_results(std::span<const ResultView> results, const std::shared_ptr<const void>& owner);
  void count_final(wire::Status status);
  void on_emitted_result(const ResultView& result);
  bool adopt_earlier_result(const ResultView& result);
  void on_error(const wire::Error& error);
  void on_drained(const wire::Drained& drained);
  void send_tasks();
  void send_acks();
  void send_pill_and_goodbye();
  // True when every unfinished task was sent in this session (drops final ones from unsent_).
  bool all_sent();

  SessionConfig config_;
  std::shared_ptr<spdlog::logger> log_;
  Counts counts_;
  SignalCount signals_;
  TimePoint stop_reading_by_{};
  std::string source_failure_;  // "the source failed: ..."
  bool done_ = false;

  std::uint64_t next_seq_ = 0;
  SeqTable<UnfinishedTask> unfinished_;
  std::unordered_map<std::uint64_t, wire::Status> resumed_;  // final in the results file
  bool resuming_ = false;                                    // --resume
  std::uint64_t expected_emitted_ = 0;  // tasks emitted under ours, as their parents' results say
  std::unordered_set<std::uint64_t> emitted_done_;  // their seqs (kEmittedSeqBit), final
  std::deque<std::uint64_t> unsent_;                // seqs to send in this session, in order
  BatchWriter writer_;  // reused: its buffer is as large as a batch has been
  std::vector<std::uint64_t> acks_;
  std::uint64_t credit_ = 0;
  bool source_ended_ = false;
  bool pill_sent_ = false;  // in this session
  FinalResults finished_;
};

}  // namespace conveyor::producer
