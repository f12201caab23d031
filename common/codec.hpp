// The codec: one Envelope per ZeroMQ frame, with the checks every receiver needs before it trusts
// a frame (size, parse, protocol version, a body present). Decoding never throws.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "conveyor/proto/conveyor.pb.h"

namespace conveyor {

inline constexpr std::uint32_t kProtocolVersion = 1;

// Why a frame was refused. Each kind is counted and logged separately by the receiver.
enum class DecodeError { empty, too_large, malformed, version_mismatch, no_body };

const char* to_string(DecodeError error);

// The wire error code a receiver answers a decode failure with.
wire::ErrorCode error_code_for(DecodeError error);

// Parses `bytes` into `out` (reused across calls, so steady-state decoding does not allocate the
// envelope). Returns the reason when the frame is not a usable envelope.
std::optional<DecodeError> decode(std::string_view bytes, std::size_t max_bytes,
                                  wire::Envelope& out);

// decode() for a receiver of many batches: it keeps one envelope per kind of batch (tasks, results)
// between messages, so that a batch is parsed into the Task or Result objects of the previous one,
// and into their strings' capacity, instead of allocating and freeing a message per task. Whatever
// the receiver leaves in an envelope (moved-from strings, swapped-out results) is cleared first.
class EnvelopeDecoder {
 public:
  // The envelope is valid until the next call. On an error it holds what could be read (e.g. the
  // version of a version mismatch).
  std::optional<DecodeError> decode(std::string_view bytes, std::size_t max_bytes);
  wire::Envelope& envelope() { return *current_; }

 private:
  wire::Envelope& prepare(std::string_view bytes);

  wire::Envelope tasks_;
  wire::Envelope results_;
  wire::Envelope other_;
  wire::Envelope* current_ = &other_;
};

// Stamps the protocol version on `envelope` and returns its encoded size, for encode_into().
std::size_t prepare_encode(wire::Envelope& envelope);
// Writes `envelope`, prepared just before, into `out` (prepare_encode() bytes).
void encode_into(const wire::Envelope& envelope, void* out);

// An envelope of the current version with an Error body.
wire::Envelope make_error(wire::ErrorCode code, std::string text, bool fatal = false);

// The envelope's body name, for logs ("hello", "tasks", ...).
const char* body_name(const wire::Envelope& envelope);

}  // namespace conveyor
