// The C++ API's vocabulary: what a handler receives (Task) and returns (Result), and how task ids
// are written ("producer:seq").
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "conveyor/common/clock.hpp"
#include "conveyor/common/delivery.hpp"
#include "conveyor/proto/conveyor.pb.h"

namespace conveyor {

// "p1", 41 -> "p1:41".
std::string task_id(std::string_view producer, std::uint64_t seq);

// A task as a handler sees it: a read-only view, valid for the duration of the handler call.
class Task {
 public:
  explicit Task(const Delivery& task, std::optional<TimePoint> deadline = std::nullopt,
                std::vector<std::string>* emitted = nullptr)
      : task_(task.borrowed()), deadline_(deadline), emitted_(emitted) {}
  // A view of `task`, which must outlive it (tests; handlers called outside a consumer).
  explicit Task(const wire::Task& task, std::optional<TimePoint> deadline = std::nullopt,
                std::vector<std::string>* emitted = nullptr);

  // "p1:41", or for a task another handler emitted, "p1:41/0" (PARENT_ID/K).
  std::string id() const {
    return task_.id().empty() ? task_id(producer(), seq()) : std::string(task_.id());
  }
  std::string_view producer() const { return task_.producer(); }
  std::uint64_t seq() const { return task_.seq(); }
  // 1 on the first delivery; more when a consumer was lost while holding it, or it was retried.
  std::uint32_t attempt() const { return task_.attempt(); }
  std::string_view payload() const { return task_.payload(); }
  std::optional<std::string_view> header(std::string_view key) const;
  // With --task-timeout: when the task must be done. A handler that can stop early should watch
  // it (cancelled()); one that runs past it makes the consumer give the task up, stop taking
  // work and exit non-zero, so that its supervisor restarts it (threads cannot be killed).
  std::optional<TimePoint> deadline() const { return deadline_; }
  bool cancelled() const { return deadline_ && Clock::now() >= *deadline_; }
  // A new task for the consumer's --emit-to queue (DESIGN.md §7.4), sent with this task's result:
  // the broker knows it before this task is final. Its id is this task's id and "/K". Without
  // --emit-to the broker refuses emitted tasks.
  void emit(std::string payload) const {
    if (emitted_ != nullptr) emitted_->push_back(std::move(payload));
  }

 private:
  Delivery task_;  // borrowed: views only, no owner
  std::optional<TimePoint> deadline_;
  std::vector<std::string>* emitted_;  // where emit() puts payloads; null: nowhere
};

// What a handler returns: ok with output bytes, or not, with an error text and what to do next.
class Result {
 public:
  enum class Kind : std::uint8_t {
    ok,
    failed,     // final (unless the broker runs with --retry-failed)
    retry,      // worth another try later: after --retry-delay, doubling, up to --max-attempts
    timed_out,  // ran past its deadline: redelivered at once, the attempt counted
  };

  static Result ok(std::string output = {}) { return Result(Kind::ok, std::move(output), {}); }
  static Result failed(std::string error) { return Result(Kind::failed, {}, std::move(error)); }
  static Result retry(std::string error) { return Result(Kind::retry, {}, std::move(error)); }
  static Result timed_out(std::string error) {
    return Result(Kind::timed_out, {}, std::move(error));
  }

  Kind kind() const { return kind_; }
  bool is_ok() const { return kind_ == Kind::ok; }
  const std::string& output() const { return output_; }
  const std::string& error() const { return error_; }
  std::string take_output() { return std::move(output_); }

 private:
  Result(Kind kind, std::string output, std::string error)
      : kind_(kind), output_(std::move(output)), error_(std::move(error)) {}

  Kind kind_;
  std::string output_;
  std::string error_;
};

// Ids (--id) name producers in task ids and in logs: 1-64 characters of [A-Za-z0-9._-].
bool is_valid_peer_id(std::string_view id);

// A default id for when --id is not given: "<role>-<hostname>-<pid>", sanitized.
std::string default_peer_id(std::string_view role);

// A random 64-bit value for session and instance nonces.
std::uint64_t random_nonce();

}  // namespace conveyor
