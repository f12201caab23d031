// The broker's view of its peers: private to broker::Core, shared by its implementation files.
#pragma once

#include <map>
#include <optional>
#include <string>
#include <vector>

#include "conveyor/broker/core.hpp"
#include "conveyor/broker/key_set.hpp"
#include "conveyor/common/seq_table.hpp"

namespace conveyor::broker {

// One connected consumer session. A reconnecting consumer is a new session (new serial).
struct Core::ConsumerSession {
  std::uint64_t serial = 0;
  std::string route;
  std::string id;
  std::string address;
  std::uint64_t process = 0;             // Hello.process
  std::uint32_t queue = 0;               // the queue it takes from
  std::optional<std::uint32_t> emit_to;  // the queue its handler's emitted tasks go to
  std::uint32_t capacity = 0;
  KeySet in_flight;
  TimePoint last_heard{};
  TimePoint last_sent{};
  TimePoint connected_at{};
  bool pilled = false;
  std::uint64_t completed = 0;
  // Results arrived at `reported_at`, and nothing was dealt to it since: its workers are free and
  // it is awake (Core::is_hot).
  bool awaiting_work = false;
  TimePoint reported_at{};

  std::size_t free_credit() const {
    if (pilled || in_flight.size() >= capacity) return 0;
    return capacity - in_flight.size();
  }
};

// A named queue (--queue): its FIFO is in the TaskBook, under its number.
struct Core::QueueBook {
  std::uint32_t index = 0;
  std::string name;
  std::size_t outstanding = 0;        // credit granted to its producers and not used yet
  std::uint64_t dispatch_cursor = 0;  // consumer serial after which its round-robin resumes
  bool finished = false;              // §7.4: no more work can reach it; its consumers were pilled
};

// What the producer is told of a task besides its outcome, from the task's record.
struct TaskFacts {
  std::uint32_t attempts = 0;
  std::uint32_t emitted = 0;
  std::string_view id;  // an emitted task's: PARENT_ID/K, its parent's id and its queue
  std::string_view parent;
  std::string_view queue;
};

// A final result kept until its producer acknowledges it, as the bytes of the wire::Result the
// producer gets (B->P). Written once, when the result is final, and copied as they are into each
// batch that sends it (again after a reconnect): no field is stored, sized and written twice.
// The buffer is reused (SeqTable's pool).
struct FinalResult {
  bool sent = false;  // to the current session: only then may it be acknowledged

  void write(std::uint64_t seq, const Outcome& outcome, const TaskFacts& facts);
  std::string_view encoded() const { return std::string_view(buffer_.data(), size_); }
  void reset();  // for reuse: keeps a small buffer

 private:
  std::string buffer_;  // its first size_ bytes; never shrunk while kept (encode_fields())
  std::size_t size_ = 0;
};

// Everything known about a producer id; it outlives the producer's connections.
struct Core::ProducerBook {
  std::uint32_t slot = 0;
  std::string id;
  std::optional<std::string> route;  // set while a session is connected
  std::string address;
  std::uint32_t queue = 0;           // the queue the current session's tasks go to
  std::uint32_t outstanding = 0;     // credit granted to the current session and not yet used
  std::uint64_t next_emitted = 0;    // numbers the tasks emitted under its tasks (kEmittedSeqBit)
  bool session_pilled = false;       // the current session sent its pill: it sends no more
  std::uint64_t tasks_accepted = 0;  // for the status command, since the broker started
  std::uint64_t results_final = 0;
  TimePoint last_heard{};
  TimePoint last_sent{};
  TimePoint detached_at{};
  std::uint64_t process = 0;           // Hello.process of the session holding the id
  SeqTable<FinalResult> unacked;       // final results it has not acknowledged
  std::vector<std::uint64_t> to_send;  // seqs in `unacked` not sent yet

  bool connected() const { return route.has_value(); }
};

}  // namespace conveyor::broker
