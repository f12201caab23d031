// The C++ API's vocabulary: what a handler receives (Task) and returns (Result), and how task ids
// are written ("producer:seq").
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "conveyor/proto/conveyor.pb.h"

namespace conveyor {

// "p1", 41 -> "p1:41".
std::string task_id(std::string_view producer, std::uint64_t seq);

// A task as a handler sees it: a read-only view, valid for the duration of the handler call.
class Task {
 public:
  explicit Task(const wire::Task& task) : task_(&task) {}

  std::string id() const { return task_id(producer(), seq()); }
  std::string_view producer() const { return task_->producer(); }
  std::uint64_t seq() const { return task_->seq(); }
  // 1 on the first delivery; more when a consumer was lost while holding it.
  std::uint32_t attempt() const { return task_->attempt(); }
  std::string_view payload() const { return task_->payload(); }
  std::optional<std::string_view> header(std::string_view key) const;

 private:
  const wire::Task* task_;
};

// What a handler returns: ok with output bytes, or failed with an error text.
class Result {
 public:
  static Result ok(std::string output = {}) { return Result(true, std::move(output), {}); }
  static Result failed(std::string error) { return Result(false, {}, std::move(error)); }

  bool is_ok() const { return ok_; }
  const std::string& output() const { return output_; }
  const std::string& error() const { return error_; }
  std::string take_output() { return std::move(output_); }

 private:
  Result(bool ok, std::string output, std::string error)
      : ok_(ok), output_(std::move(output)), error_(std::move(error)) {}

  bool ok_;
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
