#include "conveyor/producer/session.hpp"

#include <algorithm>

#include "conveyor/common/codec.hpp"
#include "conveyor/common/logging.hpp"
#include "conveyor/common/signal_policy.hpp"
#include "conveyor/common/task.hpp"

namespace conveyor::producer {
namespace {

constexpr std::size_t kMaxBatchTasks = 10000;
constexpr std::size_t kBatchTargetBytes = 1u << 20;

}  // namespace

Session::Session(SessionConfig config, TimePoint now)
    : ClientSession(config, wire::PRODUCER, logger("producer"), now),
      config_(std::move(config)),
      log_(logger("producer")) {}

void Session::on_connect(TimePoint now) {
  credit_ = 0;
  pill_sent_ = false;
  // A process that was welcomed before is resuming its run; one that never was is new work.
  link_.on_connect(now).set_resuming(link_.ever_welcomed());
}

void Session::on_envelope(wire::Envelope& envelope, TimePoint now) {
  const LinkEvent event = link_.on_envelope(envelope, now);
  if (event == LinkEvent::lost) credit_ = 0;
  switch (envelope.body_case()) {
    case wire::Envelope::kWelcome:
      return on_welcome(event, now);
    case wire::Envelope::kCredit:
      if (link_.welcomed()) credit_ += envelope.credit().grant();
      return;
    case wire::Envelope::kResults: {
      // A batch BatchReader refused (text that is not ASCII, say): its results point into the
      // parsed batch, moved out of the decoder, which reuses its objects.
      auto batch = std::make_shared<wire::ResultBatch>(std::move(*envelope.mutable_results()));
      return on_results(reader_.view(*batch), batch);
    }
    case wire::Envelope::kError:
      return on_error(envelope.error());
    case wire::Envelope::kDrained:
      return on_drained(envelope.drained());
    case wire::Envelope::kHeartbeat:
      return;
    default:
      log_->warn("the broker sent an unexpected {} message; ignored", body_name(envelope));
  }
}

void Session::on_welcome(LinkEvent event, TimePoint) {
  // Everything not final goes again: the broker drops what it already holds.
  std::vector<std::uint64_t> seqs;
  seqs.reserve(unfinished_.size());
  unfinished_.for_each([&](std::uint64_t seq, const UnfinishedTask&) { seqs.push_back(seq); });
  std::sort(seqs.begin(), seqs.end());
  unsent_.assign(seqs.begin(), seqs.end());
  if (event == LinkEvent::reconnected && !seqs.empty()) {
    log_->info("sending {} unfinished tasks again", seqs.size());
  }
}

bool Session::on_frame(std::string_view frame, const std::shared_ptr<const void>& owner,
                       TimePoint now) {
  if (!read_in_place(frame, BatchReader::Kind::results, now)) return false;
  on_results(reader_.results(), owner);
  return true;
}

void Session::on_results(std::span<const ResultView> results,
                         const std::shared_ptr<const void>& owner) {
  const std::size_t had = finished_.size();
  for (const ResultView& result : results) {
    acks_.push_back(result.seq);
    if (!result.id.empty()) {
      on_emitted_result(result);
      continue;
    }
    if (!unfinished_.erase(result.seq)) {
      if (!adopt_earlier_result(result)) {
        // One sent again after a reconnect, or one an earlier run of this id wrote already (the
        // broker still had it unacknowledged when that run died): acknowledged, not written twice.
        ++counts_.duplicates;
        continue;
      }
    }
    count_final(result.status);
    expected_emitted_ += result.emitted;
    finished_.add(result);
  }
  // Kept only when a result points into it: a batch of duplicates (after a reconnect or
  // --resume) adds nothing to write, and keeping it anyway would hold every such frame until a
  // new result comes, which may be never.
  if (finished_.size() > had) finished_.keep(owner);
}

// --resume: the final result of a task an earlier run of this id sent but did not live to write
// (the broker kept it unacknowledged). It is this run's to write, and its task is not sent again
// when the source reaches it: sending it would run it twice.
bool Session::adopt_earlier_result(const ResultView& result) {
  if (!resuming_ || result.seq < next_seq_ || resumed_.contains(result.seq)) return false;
  resumed_.emplace(result.seq, result.status);
  return true;
}

// §7.4: the result of a task one of ours emitted (any depth). The run is over for this producer
// only when each of those has its result too, like asyncio's join() after put()s.
void Session::on_emitted_result(const ResultView& result) {
  if (!emitted_done_.insert(result.seq).second) {
    ++counts_.duplicates;  // sent again after a reconnect: acknowledged, not written twice
    return;
  }
  ++counts_.emitted;
  count_final(result.status);
  expected_emitted_ += result.emitted;
  finished_.add(result);
}

std::size_t Session::outstanding() const {
  const std::uint64_t done = emitted_done_.size();
  return unfinished_.size() + (expected_emitted_ > done ? expected_emitted_ - done : 0);
}

void Session::on_error(const wire::Error& error) {
  if (error.fatal() || error.code() == wire::NOT_WELCOMED) return;  // the link's
  if (error.code() == wire::SHUTTING_DOWN) credit_ = 0;  // the broker took its grants back
  if (error.rejected_seqs().empty()) {
    log_->warn("broker: {}", error.text());
    return;
  }
  // Refused tasks are still ours: they go first when credit returns.
  std::vector<std::uint64_t> back(error.rejected_seqs().begin(), error.rejected_seqs().end());
  std::sort(back.begin(), back.end());
  unsent_.insert(unsent_.begin(), back.begin(), back.end());
  log_->debug("broker refused {} tasks: {}", back.size(), error.text());
}

void Session::on_drained(const wire::Drained& drained) {
  const auto& s = drained.summary();
  log_->info("broker drained: {} tasks ({} ok, {} failed, {} dead) in {:.2f} s", s.tasks(), s.ok(),
             s.failed(), s.dead(), s.seconds());
  if (drained.broker_stopping() && !unfinished_.empty()) {
    log_->warn("the broker is stopping with {} of our tasks unfinished; waiting for it to return",
               unfinished_.size());
  }
}

void Session::on_tick(TimePoint now) {
  if (finished()) return;
  if (link_.on_tick(now, unfinished_.size()) == LinkEvent::lost) credit_ = 0;
}

SignalAction Session::on_signal(int signo, TimePoint now) {
  const SignalAction action = signals_.on_signal();
  if (action == SignalAction::stop_now) {
    log_->warn("{} again: stopping now with {} tasks without a final result", signal_name(signo),
               unfinished_.size());
    return action;
  }
  if (!source_ended_) {
    log_->info("{}: no more reading from the source; the pill follows the {} tasks read",
               signal_name(signo), counts_.produced);
  }
  stop_reading_by_ = now + kStopReadingGrace;
  return action;
}

SourcePlan Session::plan_source(bool reader_busy, TimePoint now) {
  if (source_ended_) return {};
  if (signals_.draining()) {
    // Stopping: wait briefly for a batch already being read, then stop the reader outright.
    if (reader_busy && now < stop_reading_by_) return {};
    end_of_source();
    return SourcePlan{0, true};
  }
  const std::size_t room = source_room();
  const bool worth_asking = room >= config_.window / 16 || outstanding() == 0;
  if (reader_busy || room == 0 || !worth_asking) return {};
  return SourcePlan{room, false};
}

void Session::on_source_batch(const SourceBatch& batch) {
  for (std::size_t i = 0; i < batch.size(); ++i)
    add_task(batch.payload(i));
  if (!batch.error.empty()) {
    source_failure_ = "the source failed: " + batch.error;
    log_->error("the source failed after {} tasks: {}", counts_.produced, batch.error);
  }
  if (batch.end || signals_.draining()) end_of_source();
}

std::size_t Session::source_room() const {
  if (source_ended_ || link_.failed()) return 0;
  // Emitted tasks count against the window too: a fan-out slows the reading of the source.
  return config_.window > outstanding() ? config_.window - outstanding() : 0;
}

void Session::resume(const ResumePoint& point) {
  resuming_ = true;
  resumed_ = point.final;
  for (const auto& [seq, status] : resumed_) {
    count_final(status);
  }
  if (!resumed_.empty()) {
    log_->info("--resume: {} tasks have their final result already; the rest follow",
               resumed_.size());
  }
}

void Session::count_final(wire::Status status) {
  switch (status) {
    case wire::OK:
      ++counts_.ok;
      break;
    case wire::DEAD:
      ++counts_.dead;
      break;
    default:
      ++counts_.failed;
  }
}

void Session::add_task(std::string_view payload) {
  const std::uint64_t seq = next_seq_++;
  ++counts_.produced;
  if (resumed_.contains(seq)) {
    ++counts_.resumed;  // done in an earlier run: not sent, counted once (by resume())
    return;
  }
  const std::uint64_t limit = link_.limits().max_payload_bytes;
  if (payload.size() > limit) {
    // The broker would refuse it: report it failed here and spare the network.
    wire::Result result;
    result.set_seq(seq);
    result.set_status(wire::FAILED);
    result.set_error("payload of " + std::to_string(payload.size()) +
                     " bytes is over the broker's limit of " + std::to_string(limit));
    count_final(wire::FAILED);
    finished_.add_owned(std::move(result));
    return;
  }
  // Copied into the pooled value's buffer, kept from its last task: no allocation per task.
  unfinished_.get_or_add(seq).payload.assign(payload);
  unsent_.push_back(seq);
}

void Session::flush(TimePoint now) {
  link_.advance(now);
  if (finished() || !link_.welcomed()) return;
  send_tasks();
  send_acks();
  send_pill_and_goodbye();
}

void Session::send_acks() {
  if (acks_.empty()) return;
  wire::Envelope ack;
  ack.mutable_ack()->mutable_seqs()->Add(acks_.begin(), acks_.end());
  acks_.clear();
  link_.send(std::move(ack));
}

void Session::send_pill_and_goodbye() {
  if (!source_ended_) return;
  if (!pill_sent_ && all_sent()) {
    wire::Envelope pill;
    pill.mutable_pill()->set_tasks(next_seq_);
    link_.send(std::move(pill));
    pill_sent_ = true;
    log_->info("source exhausted after {} tasks: pill sent", next_seq_);
  }
  if (pill_sent_ && outstanding() == 0) {
    wire::Envelope goodbye;
    goodbye.mutable_goodbye()->set_reason("every task has its result");
    link_.send(std::move(goodbye));
    done_ = true;
  }
}

bool Session::all_sent() {
  // A task queued to go again can turn final first (the broker held it and its result came back
  // after the reconnect): it is nothing to send, and without credit it would hold back the pill.
  while (!unsent_.empty() && !unfinished_.contains(unsent_.front()))
    unsent_.pop_front();
  return unsent_.empty();
}

void Session::send_tasks() {
  const std::uint64_t limit = link_.limits().max_message_bytes;
  const std::size_t target = std::min<std::uint64_t>(kBatchTargetBytes, limit / 4);
  // Written field by field (BatchWriter): a protobuf Task per task, its payload copied in, then
  // serialized and destroyed, cost about a fifth of the producer's instructions.
  while (credit_ > 0 && !unsent_.empty()) {
    writer_.start(BatchWriter::Kind::tasks);
    while (credit_ > 0 && !unsent_.empty() && writer_.count() < kMaxBatchTasks &&
           writer_.bytes() < target) {
      const std::uint64_t seq = unsent_.front();
      const UnfinishedTask* unfinished = unfinished_.find(seq);
      if (unfinished == nullptr) {  // final already (its result came meanwhile)
        unsent_.pop_front();
        continue;
      }
      const std::string& payload = unfinished->payload;
      // A payload may be nearly the whole limit (--max-payload-bytes): one that would take this
      // batch over it waits, first in line, for the next batch.
      if (!writer_.add(
              [&](auto& task) {  // P->B: no producer (the session names it), no attempt
                task.varint(wire::Task::kSeqFieldNumber, seq);
                task.bytes(wire::Task::kPayloadFieldNumber, payload);
              },
              limit))
        break;
      unsent_.pop_front();
      --credit_;
    }
    if (writer_.count() == 0) break;
    link_.send_batch(writer_);
  }
}

Session::Phase Session::phase() const {
  if (link_.failed()) return Phase::failed;
  if (done_) return Phase::done;
  return link_.ever_welcomed() ? Phase::running : Phase::connecting;
}

int Session::exit_status() const {
  if (link_.failed() || !source_failure_.empty()) return 1;
  if (counts_.failed + counts_.dead > 0 && !config_.allow_failures) return kExitSomeTasksFailed;
  return 0;
}

std::string Session::failure() const {
  if (link_.failed()) return link_.failure();
  if (!source_failure_.empty()) return source_failure_;
  if (exit_status() == kExitSomeTasksFailed) {
    return std::to_string(counts_.failed) + " tasks failed and " + std::to_string(counts_.dead) +
           " died (of " + std::to_string(counts_.done()) +
           "); their results say why (exit status 3; --allow-failures makes it 0)";
  }
  return {};
}

}  // namespace conveyor::producer
