#include "common/codec.hpp"

#include <google/protobuf/io/coded_stream.h>

namespace conveyor {

const char* to_string(DecodeError error) {
  switch (error) {
    case DecodeError::empty:
      return "empty frame";
    case DecodeError::too_large:
      return "message over the size limit";
    case DecodeError::malformed:
      return "not a valid envelope";
    case DecodeError::version_mismatch:
      return "protocol version mismatch";
    case DecodeError::no_body:
      return "envelope without a body";
  }
  return "unknown decode error";
}

wire::ErrorCode error_code_for(DecodeError error) {
  switch (error) {
    case DecodeError::too_large:
      return wire::TOO_LARGE;
    case DecodeError::version_mismatch:
      return wire::VERSION_MISMATCH;
    default:
      return wire::MALFORMED;
  }
}

std::optional<DecodeError> decode(std::string_view bytes, std::size_t max_bytes,
                                  wire::Envelope& out) {
  if (bytes.empty()) return DecodeError::empty;
  if (bytes.size() > max_bytes) return DecodeError::too_large;
  // ParseFromArray takes an int: the size check above keeps us far below INT_MAX.
  if (!out.ParseFromArray(bytes.data(), static_cast<int>(bytes.size()))) {
    return DecodeError::malformed;
  }
  if (out.version() != kProtocolVersion) return DecodeError::version_mismatch;
  if (out.body_case() == wire::Envelope::BODY_NOT_SET) return DecodeError::no_body;
  return std::nullopt;
}

namespace {

// The wire tag of a length-delimited field: (number << 3) | 2.
constexpr std::uint8_t length_delimited_tag(int field) {
  return static_cast<std::uint8_t>((field << 3) | 2);
}

// The tag after a leading one-byte version field (our encoder writes the version first), or 0.
// Only a hint for picking a reusable envelope: the parse itself decides what the bytes hold.
std::uint8_t body_tag_hint(std::string_view bytes) {
  const auto byte = [&](std::size_t i) { return static_cast<std::uint8_t>(bytes[i]); };
  if (bytes.size() < 3 || byte(0) != 0x08 || (byte(1) & 0x80) != 0) return 0;
  return byte(2);
}

}  // namespace

wire::Envelope& EnvelopeDecoder::prepare(std::string_view bytes) {
  const std::uint8_t tag = body_tag_hint(bytes);
  if (tag == length_delimited_tag(wire::Envelope::kTasksFieldNumber) && tasks_.has_tasks()) {
    tasks_.clear_version();
    tasks_.mutable_tasks()->Clear();  // keeps the Task objects for the parse to reuse
    return tasks_;
  }
  if (tag == length_delimited_tag(wire::Envelope::kResultsFieldNumber) && results_.has_results()) {
    results_.clear_version();
    results_.mutable_results()->Clear();
    return results_;
  }
  // First batch of its kind, or anything else: a full clear, as decode() does.
  wire::Envelope& chosen = tag == length_delimited_tag(wire::Envelope::kTasksFieldNumber) ? tasks_
                           : tag == length_delimited_tag(wire::Envelope::kResultsFieldNumber)
                               ? results_
                               : other_;
  chosen.Clear();
  return chosen;
}

std::optional<DecodeError> EnvelopeDecoder::decode(std::string_view bytes, std::size_t max_bytes) {
  current_ = &other_;
  if (bytes.empty()) return DecodeError::empty;
  if (bytes.size() > max_bytes) return DecodeError::too_large;
  current_ = &prepare(bytes);
  // Merging into the cleared batch appends to its (empty) repeated field, reusing cleared objects.
  // The hint guarantees the bytes hold that batch field, so an envelope without a body is still
  // caught below: it was cleared in full.
  google::protobuf::io::CodedInputStream input(reinterpret_cast<const std::uint8_t*>(bytes.data()),
                                               static_cast<int>(bytes.size()));
  if (!current_->MergeFromCodedStream(&input) || !input.ConsumedEntireMessage()) {
    return DecodeError::malformed;
  }
  if (current_->version() != kProtocolVersion) return DecodeError::version_mismatch;
  if (current_->body_case() == wire::Envelope::BODY_NOT_SET) return DecodeError::no_body;
  return std::nullopt;
}

zmq::message_t encode(wire::Envelope& envelope) {
  envelope.set_version(kProtocolVersion);
  const std::size_t size = envelope.ByteSizeLong();
  zmq::message_t message(size);
  envelope.SerializeWithCachedSizesToArray(static_cast<std::uint8_t*>(message.data()));
  return message;
}

wire::Envelope make_error(wire::ErrorCode code, std::string text, bool fatal) {
  wire::Envelope envelope;
  envelope.set_version(kProtocolVersion);
  auto* error = envelope.mutable_error();
  error->set_code(code);
  error->set_text(std::move(text));
  error->set_fatal(fatal);
  return envelope;
}

const char* body_name(const wire::Envelope& envelope) {
  switch (envelope.body_case()) {
    case wire::Envelope::kHello:
      return "hello";
    case wire::Envelope::kWelcome:
      return "welcome";
    case wire::Envelope::kTasks:
      return "tasks";
    case wire::Envelope::kCredit:
      return "credit";
    case wire::Envelope::kResults:
      return "results";
    case wire::Envelope::kAck:
      return "ack";
    case wire::Envelope::kPill:
      return "pill";
    case wire::Envelope::kDrained:
      return "drained";
    case wire::Envelope::kHeartbeat:
      return "heartbeat";
    case wire::Envelope::kError:
      return "error";
    case wire::Envelope::kGoodbye:
      return "goodbye";
    case wire::Envelope::BODY_NOT_SET:
      break;
  }
  return "none";
}

}  // namespace conveyor
