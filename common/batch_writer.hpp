// BatchWriter: a TaskBatch or ResultBatch envelope written field by field into one reused buffer,
// straight from whatever the sender keeps its tasks and results in.
//
// Why not fill a wire::Envelope and serialize it: that copies every payload and output into a
// protobuf message, then walks the messages twice more (sizes, then bytes). At a million tasks a
// second that was a fifth of the broker's instructions (BENCHMARKS.md, "CPU per task"). Here each
// field is copied once, into the bytes that ZeroMQ sends.
//
// The bytes are the protobuf encoding of the same Envelope (proto3: fields in number order, zero
// and empty fields left out), so any protobuf parser reads them; tests/unit/batch_writer_test.cpp
// checks them against libprotobuf's own serialization.
//
//   BatchWriter w;
//   w.start(BatchWriter::Kind::tasks);
//   w.add([&](auto& task) { task.bytes(1, producer); task.varint(2, seq); ... });
//   send(w.finish());
#pragma once

#include <cassert>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>
#include <utility>

namespace conveyor {

// Bytes of `value` as a protobuf varint.
constexpr std::size_t varint_size(std::uint64_t value) {
  std::size_t size = 1;
  while (value >= 0x80) {
    value >>= 7;
    ++size;
  }
  return size;
}

// Writes `value` as a protobuf varint at `out`; returns the end.
inline char* put_varint(char* out, std::uint64_t value) {
  while (value >= 0x80) {
    *out++ = static_cast<char>(value | 0x80);
    value >>= 7;
  }
  *out++ = static_cast<char>(value);
  return out;
}

constexpr std::uint64_t field_tag(int field, int wire_type) {
  return (static_cast<std::uint64_t>(field) << 3) | static_cast<unsigned>(wire_type);
}

// Adds the size of each field it is given: the first pass over a message.
class FieldSizer {
 public:
  void varint(int field, std::uint64_t value) {
    if (value != 0) size_ += varint_size(field_tag(field, 0)) + varint_size(value);
  }
  void bytes(int field, std::string_view value) {
    if (!value.empty()) size_ += delimited(field, value.size());
  }
  void element(int field, std::string_view value) { size_ += delimited(field, value.size()); }
  template <class Fields>
  void message(int field, Fields&& fields) {
    FieldSizer inner;
    fields(inner);
    size_ += delimited(field, inner.size());
  }
  std::size_t size() const { return size_; }

  // Bytes of a length-delimited field of `size` bytes, its tag and length included.
  static std::size_t delimited(int field, std::size_t size) {
    return varint_size(field_tag(field, 2)) + varint_size(size) + size;
  }

 private:
  std::size_t size_ = 0;
};

// Writes each field it is given at a cursor, into room FieldSizer measured: the second pass.
class FieldWriter {
 public:
  explicit FieldWriter(char* out) : out_(out) {}
  void varint(int field, std::uint64_t value) {
    if (value == 0) return;
    out_ = put_varint(out_, field_tag(field, 0));
    out_ = put_varint(out_, value);
  }
  void bytes(int field, std::string_view value) {
    if (!value.empty()) element(field, value);
  }
  // One element of a repeated bytes field: written even when empty, as protobuf does.
  void element(int field, std::string_view value) {
    out_ = put_varint(out_, field_tag(field, 2));
    out_ = put_varint(out_, value.size());
    if (!value.empty()) std::memcpy(out_, value.data(), value.size());  // data() may be null
    out_ += value.size();
  }
  template <class Fields>
  void message(int field, Fields&& fields) {
    FieldSizer sizer;
    fields(sizer);
    message(field, sizer.size(), fields);
  }
  // The same, when the caller has sized `fields` already (FieldSizer): they are visited once.
  template <class Fields>
  void message(int field, std::size_t size, Fields&& fields) {
    out_ = put_varint(out_, field_tag(field, 2));
    out_ = put_varint(out_, size);
    fields(*this);
  }
  char* end() const { return out_; }

 private:
  char* out_;
};

// Writes a message's fields (given as BatchWriter::add takes them) into `out`, replacing what it
// held: for a sender that keeps an item encoded and sends it more than once.
template <class Fields>
void encode_fields(std::string& out, Fields&& fields) {
  FieldSizer sizer;
  fields(sizer);
  out.resize(sizer.size());
  FieldWriter writer(out.data());
  fields(writer);
  assert(writer.end() == out.data() + out.size());
}

class BatchWriter {
 public:
  enum class Kind : std::uint8_t { tasks, results };

  BatchWriter() = default;
  // A writer that fills `buffer`, keeping its capacity (one given back after a send); call
  // start() before adding.
  explicit BatchWriter(std::string buffer) : buffer_(std::move(buffer)) {}

  // Empties the batch (keeping the buffer) for a new one of `kind`.
  void start(Kind kind);
  // Adds one Task or Result: `fields(out)` calls out.varint(number, value), out.bytes(number,
  // text), out.element(number, text) (repeated) and out.message(number, fields) for its fields, in
  // field-number order, and is called twice (sized, then written).
  // Adds nothing and returns false when the batch holds items already and this one would take
  // its frame past `max_frame_bytes`: the receiver's libzmq drops a connection whose message is
  // over its limit, so the caller finishes this batch and adds the item to the next. A lone item
  // always goes in (senders keep each well under the limit).
  template <class Fields>
  bool add(Fields&& fields, std::size_t max_frame_bytes = SIZE_MAX) {
    FieldSizer sizer;
    fields(sizer);
    // TaskBatch.tasks and ResultBatch.results are both field 1.
    const std::size_t item = FieldSizer::delimited(1, sizer.size());
    // kHeaderRoom bounds the envelope's first fields, so the frame is at most this.
    if (count_ > 0 && bytes() + item + kHeaderRoom > max_frame_bytes) return false;
    const std::size_t at = buffer_.size();
    buffer_.resize(at + item);
    FieldWriter out(buffer_.data() + at);
    out.message(1, sizer.size(), fields);
    assert(out.end() == buffer_.data() + buffer_.size());
    ++count_;
    return true;
  }
  // Adds one Task or Result encoded already (its fields' bytes, as encode_fields() writes them):
  // copied as they are.
  void add_encoded(std::string_view fields) {
    const std::size_t at = buffer_.size();
    buffer_.resize(at + FieldSizer::delimited(1, fields.size()));
    FieldWriter out(buffer_.data() + at);
    out.element(1, fields);
    ++count_;
  }
  // Writes the envelope's first fields before the batch; returns frame().
  std::string_view finish();
  // The envelope's bytes, once finish()ed: valid until the next start() or add().
  std::string_view frame() const { return std::string_view(buffer_).substr(header_at_); }
  // The finished frame's buffer, for a send without a copy (LentBuffers): the frame is its bytes
  // from frame_offset() on. The writer is left empty until the next start().
  std::size_t frame_offset() const { return header_at_; }
  std::string release() { return std::move(buffer_); }

  std::size_t count() const { return count_; }  // tasks or results added
  std::size_t bytes() const { return buffer_.size() - kHeaderRoom; }
  std::size_t capacity() const { return buffer_.capacity(); }
  Kind kind() const { return kind_; }

 private:
  // Room before the batch for the envelope's first fields (version, then the body's tag and
  // size): the batch is written first, the header just before it once its size is known.
  static constexpr std::size_t kHeaderRoom = 16;

  std::string buffer_ = std::string(kHeaderRoom, '\0');
  std::size_t header_at_ = kHeaderRoom;
  std::size_t count_ = 0;
  Kind kind_ = Kind::tasks;
};

}  // namespace conveyor
