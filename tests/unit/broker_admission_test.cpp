// broker::Admission: who may produce, who may consume, and nobody else (every combination).
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "conveyor/broker/admission.hpp"
#include "conveyor/common/curve.hpp"

namespace conveyor::broker {
namespace {

using ::testing::HasSubstr;

class BrokerAdmission : public ::testing::Test {
 protected:
  KeyPair producer = generate_keypair();
  KeyPair consumer = generate_keypair();
  KeyPair both = generate_keypair();
  KeyPair stranger = generate_keypair();
  Admission admission{KeyList::of({producer.public_key, both.public_key}),
                      KeyList::of({consumer.public_key, both.public_key})};
  Decision decide(const std::string& domain, const std::string& key,
                  const std::string& mechanism = "CURVE") {
    return admission.decide(domain, mechanism, key);
  }
};

TEST_F(BrokerAdmission, AProducerKeyMayProduceOnly) {
  EXPECT_TRUE(decide(kFrontendDomain, producer.public_key).allowed);
  const Decision d = decide(kBackendDomain, producer.public_key);
  EXPECT_FALSE(d.allowed);
  EXPECT_THAT(d.reason, HasSubstr("a producer key may not consume"));
}

TEST_F(BrokerAdmission, AConsumerKeyMayConsumeOnly) {
  EXPECT_TRUE(decide(kBackendDomain, consumer.public_key).allowed);
  const Decision d = decide(kFrontendDomain, consumer.public_key);
  EXPECT_FALSE(d.allowed);
  EXPECT_THAT(d.reason, HasSubstr("a consumer key may not produce"));
}

TEST_F(BrokerAdmission, AKeyInBothListsMayDoBoth) {
  EXPECT_TRUE(decide(kFrontendDomain, both.public_key).allowed);
  EXPECT_TRUE(decide(kBackendDomain, both.public_key).allowed);
}

TEST_F(BrokerAdmission, AnUnknownKeyIsRefusedOnBothSides) {
  const Decision front = decide(kFrontendDomain, stranger.public_key);
  EXPECT_FALSE(front.allowed);
  EXPECT_EQ(front.reason, "not in --producer-keys");
  const Decision back = decide(kBackendDomain, stranger.public_key);
  EXPECT_FALSE(back.allowed);
  EXPECT_EQ(back.reason, "not in --consumer-keys");
}

TEST_F(BrokerAdmission, ASecretKeyDoesNotMatchItsPublicKey) {
  EXPECT_FALSE(decide(kFrontendDomain, producer.secret_key).allowed);
}

TEST_F(BrokerAdmission, OtherMechanismsUnknownDomainsAndBadKeysAreRefused) {
  for (const char* mechanism : {"NULL", "PLAIN", "GSSAPI", ""}) {
    const Decision d = decide(kFrontendDomain, producer.public_key, mechanism);
    EXPECT_FALSE(d.allowed) << mechanism;
    EXPECT_THAT(d.reason, HasSubstr("is not CURVE"));
  }
  const Decision domain = decide("", producer.public_key);
  EXPECT_FALSE(domain.allowed);
  EXPECT_THAT(domain.reason, HasSubstr("unknown ZAP domain"));
  EXPECT_FALSE(decide("conveyor-frontend ", producer.public_key).allowed);
  EXPECT_FALSE(decide(kFrontendDomain, "").allowed);
  EXPECT_FALSE(decide(kFrontendDomain, producer.public_key.substr(0, 39)).allowed);
}

TEST_F(BrokerAdmission, EmptyListsAdmitNobody) {
  Admission closed{KeyList::of({}), KeyList::of({})};
  EXPECT_FALSE(closed.decide(kFrontendDomain, "CURVE", producer.public_key).allowed);
  EXPECT_FALSE(closed.decide(kBackendDomain, "CURVE", consumer.public_key).allowed);
}

TEST(ZapBinary, A32ByteKeyEncodesToItsZ85Text) {
  EXPECT_EQ(z85_encode_key(std::string(32, '\0')), "0000000000000000000000000000000000000000");
  EXPECT_EQ(z85_encode_key("short"), "");
}

}  // namespace
}  // namespace conveyor::broker
