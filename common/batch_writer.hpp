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
#include <memory>
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

// The most bytes the fields it is given can take: every varint counted at its longest (10 bytes),
// so it needs no look at the values beyond the lengths of strings. For an item written once
// into a buffer of its own (encode_fields()), where no length goes before the fields.
class FieldBound {
 public:
  static constexpr std::size_t kMaxVarintBytes = 10;

  void varint(int field, std::uint64_t /*value*/) {
    size_ += varint_size(field_tag(field, 0)) + kMaxVarintBytes;
  }
  void bytes(int field, std::string_view value) { element(field, value); }
  void element(int field, std::string_view value) {
    size_ += varint_size(field_tag(field, 2)) + kMaxVarintBytes + value.size();
  }
  template <class Fields>
  void message(int field, Fields&& fields) {
    FieldBound inner;
    fields(inner);
    size_ += varint_size(field_tag(field, 2)) + kMaxVarintBytes + inner.size();
  }
  std::size_t size() const { return size_; }

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

// Writes a message's fields (given as BatchWriter::add takes them) at the start of `out`, for a
// sender that keeps an item encoded and sends it more than once; returns how many bytes. `out`
// grows when it is too small and is never shrunk: a reused buffer is not resized per item (a
// std::string resize, zero-filling included, cost more than writing a small result). Its room
// is bounded (FieldBound), not measured (FieldSizer): nothing before the fields needs their exact
// size, and measuring cost nearly as much as writing (the broker's FinalResult::write, 64 B
// results: 197 instructions per task measured, 147 bounded).
template <class Fields>
std::size_t encode_fields(std::string& out, Fields&& fields) {
  FieldBound bound;
  fields(bound);
  if (out.size() < bound.size()) out.resize(bound.size());
  FieldWriter writer(out.data());
  fields(writer);
  const auto size = static_cast<std::size_t>(writer.end() - out.data());
  assert(size <= bound.size());
  return size;
}

// Bytes written before they are read: a batch's buffer. Unlike std::string it grows without
// zero-filling what it adds, and it has no size of its own (the writer tracks where it is). The
// zero-filling was a cost per item when the batch grew item by item, and, counted per byte by
// valgrind (`rep stosb`), hundreds of instructions per task when a buffer grew in large steps.
class ByteBuffer {
 public:
  ByteBuffer() = default;
  explicit ByteBuffer(std::size_t capacity)
      : bytes_(std::make_unique_for_overwrite<char[]>(capacity)), capacity_(capacity) {}
  ByteBuffer(ByteBuffer&& other) noexcept
      : bytes_(std::move(other.bytes_)), capacity_(std::exchange(other.capacity_, 0)) {}
  ByteBuffer& operator=(ByteBuffer&& other) noexcept {
    bytes_ = std::move(other.bytes_);
    capacity_ = std::exchange(other.capacity_, 0);
    return *this;
  }
  // A copy copies every byte (sessions are values, and their outboxes with them); the send path
  // only ever moves.
  ByteBuffer(const ByteBuffer& other) : ByteBuffer(other.capacity_) {
    if (capacity_ > 0) std::memcpy(data(), other.data(), capacity_);
  }
  ByteBuffer& operator=(const ByteBuffer& other) {
    if (this != &other) *this = ByteBuffer(other);
    return *this;
  }

  char* data() { return bytes_.get(); }
  const char* data() const { return bytes_.get(); }
  std::size_t capacity() const { return capacity_; }
  // At least `capacity` bytes, the first `kept` of them as they were.
  void grow(std::size_t capacity, std::size_t kept);

 private:
  std::unique_ptr<char[]> bytes_;
  std::size_t capacity_ = 0;
};

// The largest batch buffer a pool keeps for reuse (the broker's spare batches, LentBuffers):
// twice a batch, which senders cut at 1 MiB at most, plus one item. A bigger one was a peak.
inline constexpr std::size_t kMaxKeptBatchBytes = std::size_t{2} << 20;

// A finished batch's buffer, handed over for a send without a copy (LentBuffers): the frame is
// `buffer`'s bytes [offset, offset + size). The rest is room: a writer given the buffer back
// writes its next batches into it.
struct BatchBuffer {
  ByteBuffer buffer;
  std::size_t offset = 0;
  std::size_t size = 0;

  std::string_view frame() const { return std::string_view(buffer.data() + offset, size); }
};

class BatchWriter {
 public:
  enum class Kind : std::uint8_t { tasks, results };

  BatchWriter() : buffer_(kHeaderRoom) {}
  // A writer that fills `buffer` (one given back after a send, see BatchBuffer); call start()
  // before adding.
  explicit BatchWriter(ByteBuffer buffer) : buffer_(std::move(buffer)) {}

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
    FieldWriter out(room_for(item));
    out.message(1, sizer.size(), fields);
    assert(out.end() == buffer_.data() + size_);
    ++count_;
    return true;
  }
  // Adds one Task or Result encoded already (its fields' bytes, as encode_fields() writes them):
  // copied as they are.
  void add_encoded(std::string_view fields) {
    FieldWriter out(room_for(FieldSizer::delimited(1, fields.size())));
    out.element(1, fields);
    ++count_;
  }
  // Writes the envelope's first fields before the batch; returns frame().
  std::string_view finish();
  // The envelope's bytes, once finish()ed: valid until the next start() or add().
  std::string_view frame() const {
    return std::string_view(buffer_.data() + header_at_, size_ - header_at_);
  }
  // The finished frame's buffer, for a send without a copy. The writer is left with an empty
  // batch and no buffer (adding grows a new one; start() as usual).
  BatchBuffer release();

  std::size_t count() const { return count_; }  // tasks or results added
  std::size_t bytes() const { return size_ - kHeaderRoom; }
  std::size_t capacity() const { return buffer_.capacity(); }
  Kind kind() const { return kind_; }

 private:
  // Room before the batch for the envelope's first fields (version, then the body's tag and
  // size): the batch is written first, the header just before it once its size is known.
  static constexpr std::size_t kHeaderRoom = 16;

  // `n` more bytes at the end of the batch, to be written. The buffer is kept as long as its
  // capacity and the batch's end tracked apart (size_), so that adding an item resizes nothing:
  // std::string::resize, zero-filling the new bytes, cost more per task than writing them.
  char* room_for(std::size_t n) {
    if (size_ + n > buffer_.capacity()) [[unlikely]]
      buffer_.grow(size_ + n, size_);
    char* at = buffer_.data() + size_;
    size_ += n;
    return at;
  }

  ByteBuffer buffer_;
  std::size_t size_ = kHeaderRoom;  // the batch's end in buffer_; what follows is spare room
  std::size_t header_at_ = kHeaderRoom;
  std::size_t count_ = 0;
  Kind kind_ = Kind::tasks;
};

}  // namespace conveyor
