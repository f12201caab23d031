#include "conveyor/common/batch_writer.hpp"

#include <algorithm>
#include <cassert>
#include <cstring>

#include "conveyor/common/codec.hpp"
#include "conveyor/proto/conveyor.pb.h"

namespace conveyor {

void ByteBuffer::grow(std::size_t capacity, std::size_t kept) {
  if (capacity <= capacity_) return;
  // Doubling: a buffer reaches the size of the largest batch in a few steps, then is only
  // written over.
  ByteBuffer grown(std::max(capacity, 2 * capacity_));
  if (kept > 0 && data() != nullptr) std::memcpy(grown.data(), data(), kept);
  *this = std::move(grown);
}

void BatchWriter::start(Kind kind) {
  buffer_.grow(kHeaderRoom, 0);
  size_ = kHeaderRoom;
  header_at_ = kHeaderRoom;
  count_ = 0;
  kind_ = kind;
}

BatchBuffer BatchWriter::release() {
  BatchBuffer released{std::move(buffer_), header_at_, size_ - header_at_};
  size_ = kHeaderRoom;  // an empty batch, as after start(); add() grows a buffer again
  header_at_ = kHeaderRoom;
  count_ = 0;
  return released;
}

std::string_view BatchWriter::finish() {
  // Envelope { version = 1; tasks (field 4) or results (field 6) = the batch }
  const int body = kind_ == Kind::tasks ? wire::Envelope::kTasksFieldNumber
                                        : wire::Envelope::kResultsFieldNumber;
  char header[kHeaderRoom];
  FieldWriter out(header);
  out.varint(wire::Envelope::kVersionFieldNumber, kProtocolVersion);
  // Written even when the batch is empty (a zero-length field), as protobuf writes a set oneof.
  char* end = put_varint(out.end(), field_tag(body, 2));
  end = put_varint(end, bytes());
  const auto size = static_cast<std::size_t>(end - header);
  assert(size <= kHeaderRoom);
  header_at_ = kHeaderRoom - size;
  std::memcpy(buffer_.data() + header_at_, header, size);
  return frame();
}

}  // namespace conveyor
