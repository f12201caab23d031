// BatchReader: task and result batches, and acks, read in place (batch_reader.hpp says what it
// takes).
#include "conveyor/common/batch_reader.hpp"

#include <cstddef>
#include <cstring>

#include "conveyor/common/text.hpp"

namespace conveyor {
namespace {

constexpr int kVarint = 0;
constexpr int kDelimited = 2;

// A position in a message's bytes. Each read checks the end and returns false on anything the
// reader does not take; the caller then gives up on the whole frame.
class Cursor {
 public:
  explicit Cursor(std::string_view bytes)
      : at_(reinterpret_cast<const unsigned char*>(bytes.data())), end_(at_ + bytes.size()) {}

  bool done() const { return at_ == end_; }

  // A one-byte tag (fields 1..15, all ours are): a longer one may be an overlong encoding, which
  // is not worth telling apart from libprotobuf's limits. Field 0 is malformed.
  bool tag(int& field, int& type) {
    if (at_ == end_ || (*at_ & 0x80) != 0) return false;
    field = *at_ >> 3;
    type = *at_ & 7;
    ++at_;
    return field != 0;
  }

  // Up to ten bytes, and no bits beyond 64: what libprotobuf reads without question.
  bool varint(std::uint64_t& value) {
    if (at_ != end_ && *at_ < 0x80) {  // most are one byte: flags, statuses, short lengths
      value = *at_++;
      return true;
    }
    // Seqs past 127 and lengths past 127 bytes take two or three: read those without the loop,
    // which cost about 30 instructions per varint, two per task in the broker.
    if (end_ - at_ >= 3) {
      const std::uint64_t low = at_[0] & 0x7fu;
      const std::uint64_t second = at_[1];
      if (second < 0x80) {
        value = low | second << 7;
        at_ += 2;
        return true;
      }
      const std::uint64_t third = at_[2];
      if (third < 0x80) {
        value = low | (second & 0x7fu) << 7 | third << 14;
        at_ += 3;
        return true;
      }
    }
    return long_varint(value);
  }

  // The general form, for varints of four bytes and more or at the very end of the message.
  bool long_varint(std::uint64_t& value) {
    value = 0;
    for (int shift = 0; shift < 64; shift += 7) {
      if (at_ == end_) return false;
      const unsigned byte = *at_++;
      if (shift == 63 && byte > 1) return false;
      value |= static_cast<std::uint64_t>(byte & 0x7f) << shift;
      if ((byte & 0x80) == 0) return true;
    }
    return false;
  }

  // A length of at most five bytes (a varint32, as libprotobuf reads sizes) within the message.
  bool delimited(std::string_view& value) {
    const unsigned char* start = at_;
    std::uint64_t size = 0;
    if (!varint(size) || at_ - start > 5 || size > static_cast<std::uint64_t>(end_ - at_)) {
      return false;
    }
    value = std::string_view(reinterpret_cast<const char*>(at_), size);
    at_ += size;
    return true;
  }

 private:
  const unsigned char* at_;
  const unsigned char* end_;
};

// ASCII is valid UTF-8, which proto3 requires of a string field; anything else is left to
// libprotobuf's own validator.
bool ascii_into(std::string_view value, std::string_view& field) {
  field = value;
  return is_ascii(value);
}

// The fields of a Task and of a Result, as types (not function pointers) so that the reader
// below is compiled for each with its fields inlined. A repeated scalar is the last one read, as
// in libprotobuf.
struct TaskFields {
  static bool varint(int field, std::uint64_t value, TaskView& task) {
    using T = wire::Task;
    switch (field) {
      case T::kSeqFieldNumber:
        task.seq = value;
        return true;
      case T::kAttemptFieldNumber:
        task.attempt = static_cast<std::uint32_t>(value);  // uint32: truncated, as libprotobuf does
        return true;
      default:
        return false;
    }
  }

  static bool delimited(int field, std::string_view value, TaskView& task) {
    using T = wire::Task;
    switch (field) {
      case T::kProducerFieldNumber:
        return ascii_into(value, task.producer);
      case T::kPayloadFieldNumber:
        task.payload = value;  // bytes: no validation
        return true;
      case T::kIdFieldNumber:
        return ascii_into(value, task.id);
      default:
        return false;  // headers, or a field this version does not know
    }
  }
};

struct ResultFields {
  static bool varint(int field, std::uint64_t value, ResultView& result) {
    using R = wire::Result;
    switch (field) {
      case R::kSeqFieldNumber:
        result.seq = value;
        return true;
      case R::kStatusFieldNumber:  // an open enum: any int32, as libprotobuf keeps it
        result.status = static_cast<wire::Status>(static_cast<std::int32_t>(value));
        return true;
      case R::kAttemptsFieldNumber:
        result.attempts = static_cast<std::uint32_t>(value);
        return true;
      case R::kRetryFieldNumber:
        result.retry = value != 0;
        return true;
      case R::kTimedOutFieldNumber:
        result.timed_out = value != 0;
        return true;
      case R::kLostFieldNumber:
        result.lost = value != 0;
        return true;
      case R::kEmittedFieldNumber:
        result.emitted = static_cast<std::uint32_t>(value);
        return true;
      default:
        return false;
    }
  }

  static bool delimited(int field, std::string_view value, ResultView& result) {
    using R = wire::Result;
    switch (field) {
      case R::kProducerFieldNumber:
        return ascii_into(value, result.producer);
      case R::kOutputFieldNumber:
        result.output = value;
        return true;
      case R::kErrorFieldNumber:
        return ascii_into(value, result.error);
      case R::kConsumerFieldNumber:
        return ascii_into(value, result.consumer);
      case R::kIdFieldNumber:
        return ascii_into(value, result.id);
      case R::kParentFieldNumber:
        return ascii_into(value, result.parent);
      case R::kQueueFieldNumber:
        return ascii_into(value, result.queue);
      default:
        return false;  // emits, or a field this version does not know
    }
  }
};

// Reads one Task or Result, each field through Fields.
template <class Fields, class View>
bool read_fields(std::string_view bytes, View& view) {
  Cursor in(bytes);
  while (!in.done()) {
    int field = 0;
    int type = 0;
    if (!in.tag(field, type)) return false;
    if (type == kVarint) {
      std::uint64_t value = 0;
      if (!in.varint(value) || !Fields::varint(field, value, view)) return false;
    } else if (type == kDelimited) {
      std::string_view value;
      if (!in.delimited(value) || !Fields::delimited(field, value, view)) return false;
    } else {
      return false;
    }
  }
  return true;
}

// A TaskBatch or ResultBatch: field 1, repeated, each element read through Fields into `views`.
template <class Fields, class View>
bool read_batch(std::string_view bytes, std::vector<View>& views) {
  Cursor in(bytes);
  while (!in.done()) {
    int field = 0;
    int type = 0;
    std::string_view element;
    if (!in.tag(field, type) || field != 1 || type != kDelimited || !in.delimited(element)) {
      return false;
    }
    if (!read_fields<Fields>(element, views.emplace_back())) return false;
  }
  return true;
}

// An Ack: its repeated seqs (field 1), packed as libprotobuf writes them or one by one as a
// parser must also take; several runs of either are read one after the other, as libprotobuf
// appends them.
bool read_acks(std::string_view bytes, std::vector<std::uint64_t>& seqs) {
  Cursor in(bytes);
  while (!in.done()) {
    int field = 0;
    int type = 0;
    std::uint64_t seq = 0;
    if (!in.tag(field, type) || field != wire::Ack::kSeqsFieldNumber) return false;
    if (type == kVarint) {
      if (!in.varint(seq)) return false;
      seqs.push_back(seq);
      continue;
    }
    std::string_view packed;
    if (type != kDelimited || !in.delimited(packed)) return false;
    for (Cursor run(packed); !run.done(); seqs.push_back(seq)) {
      if (!run.varint(seq)) return false;  // a varint cut by the run's end
    }
  }
  return true;
}

// The body kind of an envelope field, none for one this reader does not take.
BatchReader::Kind body_kind(int field) {
  using E = wire::Envelope;
  using Kind = BatchReader::Kind;
  switch (field) {
    case E::kTasksFieldNumber:
      return Kind::tasks;
    case E::kResultsFieldNumber:
      return Kind::results;
    case E::kAckFieldNumber:
      return Kind::acks;
    default:
      return Kind::none;
  }
}

// The envelope: its version and one body, in either order, each once.
BatchReader::Kind read_envelope(std::string_view frame, std::uint64_t& version,
                                std::string_view& body) {
  using E = wire::Envelope;
  using Kind = BatchReader::Kind;
  Cursor in(frame);
  Kind kind = Kind::none;
  while (!in.done()) {
    int field = 0;
    int type = 0;
    if (!in.tag(field, type)) return Kind::none;
    if (field == E::kVersionFieldNumber && type == kVarint) {
      if (!in.varint(version)) return Kind::none;
    } else if (body_kind(field) != Kind::none && type == kDelimited && kind == Kind::none) {
      if (!in.delimited(body)) return Kind::none;
      kind = body_kind(field);
    } else {
      return Kind::none;  // another body, a second one (libprotobuf would merge it), unknown
    }
  }
  return kind;
}

}  // namespace

BatchReader::Kind BatchReader::read(std::string_view frame, std::uint32_t version) {
  tasks_.clear();
  results_.clear();
  acked_.clear();
  std::uint64_t got = 0;
  std::string_view body;
  const Kind kind = read_envelope(frame, got, body);
  if (kind == Kind::none || static_cast<std::uint32_t>(got) != version) return Kind::none;
  bool ok = false;
  switch (kind) {
    case Kind::tasks:
      ok = read_batch<TaskFields>(body, tasks_);
      break;
    case Kind::results:
      ok = read_batch<ResultFields>(body, results_);
      break;
    case Kind::acks:
      ok = read_acks(body, acked_);
      break;
    case Kind::none:
      break;
  }
  return ok ? kind : Kind::none;
}

const char* body_name(BatchReader::Kind kind) {
  switch (kind) {
    case BatchReader::Kind::tasks:
      return "tasks";
    case BatchReader::Kind::results:
      return "results";
    case BatchReader::Kind::acks:
      return "ack";
    case BatchReader::Kind::none:
      break;
  }
  return "none";
}

std::span<TaskView> BatchReader::view(wire::TaskBatch& batch) {
  tasks_.clear();
  for (auto& task : *batch.mutable_tasks()) {
    tasks_.push_back(TaskView{
        .producer = task.producer(),
        .seq = task.seq(),
        .attempt = task.attempt(),
        .payload = task.payload(),
        .id = task.id(),
        .headers = task.headers().empty() ? nullptr : task.mutable_headers(),
    });
  }
  return tasks_;
}

ResultView view_of(const wire::Result& result) {
  return ResultView{
      .producer = result.producer(),
      .seq = result.seq(),
      .status = result.status(),
      .output = result.output(),
      .error = result.error(),
      .consumer = result.consumer(),
      .attempts = result.attempts(),
      .retry = result.retry(),
      .timed_out = result.timed_out(),
      .lost = result.lost(),
      .emit = result.emit().empty() ? nullptr : &result.emit(),
      .id = result.id(),
      .parent = result.parent(),
      .queue = result.queue(),
      .emitted = result.emitted(),
  };
}

std::span<ResultView> BatchReader::view(const wire::ResultBatch& batch) {
  results_.clear();
  for (const auto& result : batch.results())
    results_.push_back(view_of(result));
  return results_;
}

}  // namespace conveyor
