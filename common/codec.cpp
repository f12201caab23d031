#include "common/codec.hpp"

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
