#include "conveyor/common/batch_writer.hpp"

#include <cassert>
#include <cstring>

#include "conveyor/common/codec.hpp"
#include "conveyor/proto/conveyor.pb.h"

namespace conveyor {

void BatchWriter::start(Kind kind) {
  buffer_.resize(kHeaderRoom);
  header_at_ = kHeaderRoom;
  count_ = 0;
  kind_ = kind;
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
