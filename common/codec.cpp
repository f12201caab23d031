#include "conveyor/common/codec.hpp"

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

namespace {

// The checks before a parse: a frame to parse, within the size limit (which also keeps the size
// far below the INT_MAX that protobuf's parsers take).
std::optional<DecodeError> check_frame(std::string_view bytes, std::size_t max_bytes) {
  if (bytes.empty()) return DecodeError::empty;
  if (bytes.size() > max_bytes) return DecodeError::too_large;
  return std::nullopt;
}

// The checks after a parse: our version, and a body.
std::optional<DecodeError> check_envelope(const wire::Envelope& envelope) {
  if (envelope.version() != kProtocolVersion) return DecodeError::version_mismatch;
  if (envelope.body_case() == wire::Envelope::BODY_NOT_SET) return DecodeError::no_body;
  return std::nullopt;
}

// The tag after a leading one-byte version field (our encoder writes the version first), or 0.
// Only a hint for picking a reusable envelope: the parse itself decides what the bytes hold.
std::uint8_t body_tag_hint(std::string_view bytes) {
  const auto byte = [&](std::size_t i) { return static_cast<std::uint8_t>(bytes[i]); };
  if (bytes.size() < 3 || byte(0) != 0x08 || (byte(1) & 0x80) != 0) return 0;
  return byte(2);
}

// The wire tag of a length-delimited field: (number << 3) | 2.
constexpr std::uint8_t length_delimited_tag(int field) {
  return static_cast<std::uint8_t>((field << 3) | 2);
}

constexpr std::uint8_t kTasksTag = length_delimited_tag(wire::Envelope::kTasksFieldNumber);
constexpr std::uint8_t kResultsTag = length_delimited_tag(wire::Envelope::kResultsFieldNumber);

}  // namespace

std::optional<DecodeError> decode(std::string_view bytes, std::size_t max_bytes,
                                  wire::Envelope& out) {
  if (auto error = check_frame(bytes, max_bytes)) return error;
  if (!out.ParseFromArray(bytes.data(), static_cast<int>(bytes.size()))) {
    return DecodeError::malformed;
  }
  return check_envelope(out);
}

wire::Envelope& EnvelopeDecoder::prepare(std::string_view bytes) {
  const std::uint8_t tag = body_tag_hint(bytes);
  wire::Envelope& chosen = tag == kTasksTag ? tasks_ : tag == kResultsTag ? results_ : other_;
  if (tag == kTasksTag && tasks_.has_tasks()) {
    tasks_.clear_version();
    tasks_.mutable_tasks()->Clear();  // keeps the Task objects for the parse to reuse
  } else if (tag == kResultsTag && results_.has_results()) {
    results_.clear_version();
    results_.mutable_results()->Clear();
  } else {
    chosen.Clear();  // first batch of its kind, or anything else: a full clear, as decode() does
  }
  return chosen;
}

std::optional<DecodeError> EnvelopeDecoder::decode(std::string_view bytes, std::size_t max_bytes) {
  current_ = &other_;
  if (auto error = check_frame(bytes, max_bytes)) return error;
  current_ = &prepare(bytes);
  // Merging into the cleared batch appends to its (empty) repeated field, reusing cleared objects.
  // The hint guarantees the bytes hold that batch field, so an envelope without a body is still
  // caught below: it was cleared in full.
  google::protobuf::io::CodedInputStream input(reinterpret_cast<const std::uint8_t*>(bytes.data()),
                                               static_cast<int>(bytes.size()));
  if (!current_->MergeFromCodedStream(&input) || !input.ConsumedEntireMessage()) {
    return DecodeError::malformed;
  }
  return check_envelope(*current_);
}

std::size_t prepare_encode(wire::Envelope& envelope) {
  envelope.set_version(kProtocolVersion);
  return envelope.ByteSizeLong();
}

void encode_into(const wire::Envelope& envelope, void* out) {
  envelope.SerializeWithCachedSizesToArray(static_cast<std::uint8_t*>(out));
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
