#include <gtest/gtest.h>

#include "common/codec.hpp"

namespace conveyor {
namespace {

TEST(Codec, RoundTripsAnEnvelopeWithItsVersion) {
  wire::Envelope out;
  out.mutable_pill()->set_tasks(7);
  zmq::message_t frame = encode(out);
  wire::Envelope in;
  EXPECT_FALSE(decode(frame.to_string_view(), 1 << 20, in).has_value());
  EXPECT_EQ(in.version(), kProtocolVersion);
  EXPECT_EQ(in.pill().tasks(), 7u);
}

TEST(Codec, RefusesEmptyOversizedGarbageAndVersionlessFrames) {
  wire::Envelope in;
  EXPECT_EQ(decode("", 100, in), DecodeError::empty);
  EXPECT_EQ(decode(std::string(101, 'x'), 100, in), DecodeError::too_large);
  EXPECT_EQ(decode("\xff\xff\xff\xff", 100, in), DecodeError::malformed);
  wire::Envelope old;
  old.set_version(99);
  old.mutable_heartbeat();
  EXPECT_EQ(decode(old.SerializeAsString(), 100, in), DecodeError::version_mismatch);
  wire::Envelope empty;
  empty.set_version(kProtocolVersion);
  EXPECT_EQ(decode(empty.SerializeAsString(), 100, in), DecodeError::no_body);
}

}  // namespace
}  // namespace conveyor
