// TaskBook: every task the broker holds, by id, and the FIFO of those waiting for a consumer.
// A task leaves the book only when its result is final (at-least-once).
#pragma once

#include <cstddef>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include <google/protobuf/repeated_field.h>

#include "conveyor/common/clock.hpp"
#include "conveyor/common/seq_table.hpp"
#include "conveyor/proto/conveyor.pb.h"

namespace conveyor::broker {

// A task's id inside the broker: the producer's slot number and the task's seq.
struct TaskKey {
  std::uint32_t producer = 0;
  std::uint64_t seq = 0;
  bool operator==(const TaskKey&) const = default;
  auto operator<=>(const TaskKey&) const = default;
};

struct TaskKeyHash {
  std::size_t operator()(const TaskKey& k) const noexcept {
    return std::hash<std::uint64_t>{}(k.seq * 0x9E3779B97F4A7C15ull ^ k.producer);
  }
};

enum class TaskState : std::uint8_t {
  queued,     // waiting in the FIFO
  in_flight,  // held by the consumer session `holder`: only its result for this delivery counts
  delayed,    // a retry waiting for its time (--retry-delay), then to the FIFO's tail
};

// Where an emitted task (--emit-to) comes from; none for a producer's own tasks.
struct Lineage {
  std::string id;      // PARENT_ID/K
  std::string parent;  // PARENT_ID
};

struct TaskRecord {
  std::string payload;
  google::protobuf::RepeatedPtrField<wire::Header> headers;
  std::uint32_t queue = 0;  // the queue it waits in (Core's queue number)
  std::uint32_t deliveries = 0;
  std::uint32_t emitted = 0;  // tasks its handler emitted so far: later copies of them are dropped
  TaskState state = TaskState::queued;
  std::uint64_t holder = 0;  // consumer session serial while in_flight
  std::uint64_t ticket = 0;  // matches the FIFO or delay entry that is current for this record
  TimePoint received{};
  std::unique_ptr<Lineage> lineage;  // emitted tasks only

  void reset();  // for reuse (SeqTable's pool): empties everything, keeps a small payload buffer
};

// What one queue holds.
struct QueueLoad {
  std::size_t held = 0;  // every task of the queue, whatever its state
  std::size_t queued = 0;
  std::size_t delayed = 0;
};

class TaskBook {
 public:
  TaskRecord* find(const TaskKey& key);
  bool contains(const TaskKey& key) const;

  // Adds a new task at the tail of its queue's FIFO. The key must not be in the book.
  TaskRecord& add(const TaskKey& key, TaskRecord record);
  // The same, for a record the caller then fills in (payload, headers, received, lineage): a
  // reused one, whose payload buffer the caller can swap with the one it parsed.
  TaskRecord& add(const TaskKey& key, std::uint32_t queue);
  // add(key, queue) for a key that may be in the book already: then nothing, and null. One
  // lookup where contains() and add() took two (about 36 instructions per task).
  TaskRecord* try_add(const TaskKey& key, std::uint32_t queue);
  // Puts a held task back at the head of its queue's FIFO (redelivery goes first).
  void requeue_front(const TaskKey& key, TaskRecord& record);
  // Holds a task out of the FIFO until `until`: a retry waits (see release_due()).
  void delay(const TaskKey& key, TaskRecord& record, TimePoint until);
  // Moves every delayed task whose time has come to the tail of its FIFO; how many.
  std::size_t release_due(TimePoint now);
  // The next queued task of `queue`, or nothing when its FIFO holds none.
  std::optional<std::pair<TaskKey, TaskRecord*>> pop_queued(std::uint32_t queue = 0);
  // Removes a task in any state.
  void erase(const TaskKey& key);
  // The same for a record the caller holds: `record` is find(key), not looked up again.
  void erase(const TaskKey& key, TaskRecord& record);

  std::size_t size() const { return size_; }
  std::size_t queued() const { return queued_; }  // in every queue
  std::size_t delayed() const { return delayed_count_; }
  const QueueLoad& load(std::uint32_t queue) const;
  bool empty() const { return size_ == 0; }

 private:
  struct Entry {
    TaskKey key;
    std::uint64_t ticket;
  };

  // Per task, so inline; a queue seen for the first time grows both tables (add_queue()).
  QueueLoad& load_of(std::uint32_t queue) {
    if (queue >= loads_.size()) [[unlikely]]
      add_queue(queue);
    return loads_[queue];
  }
  std::deque<Entry>& fifo_of(std::uint32_t queue) {
    if (queue >= fifos_.size()) [[unlikely]]
      add_queue(queue);
    return fifos_[queue];
  }
  void add_queue(std::uint32_t queue);

  // By producer slot, then seq: no heap node per task (see seq_table.hpp).
  std::vector<std::unique_ptr<SeqTable<TaskRecord>>> records_;
  std::size_t size_ = 0;
  // Entries go stale when their record is erased or requeued; pop_queued() skips them by ticket.
  std::vector<std::deque<Entry>> fifos_;     // by queue
  std::multimap<TimePoint, Entry> delayed_;  // by due time; stale entries skipped by ticket
  std::vector<QueueLoad> loads_;             // by queue
  std::size_t queued_ = 0;
  std::size_t delayed_count_ = 0;
  std::uint64_t next_ticket_ = 1;
};

}  // namespace conveyor::broker
