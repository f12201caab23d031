// Key files and key lists for --curve: the forms users write by hand must parse, and every
// malformed one must fail with the file (and line) named.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <zmq.h>

#include <filesystem>
#include <fstream>

#include "conveyor/broker/admission.hpp"
#include "conveyor/common/curve.hpp"
#include "conveyor/common/handshake_monitor.hpp"
#include "conveyor/keygen/keygen.hpp"

namespace conveyor {
namespace {

using ::testing::HasSubstr;
namespace fs = std::filesystem;

// A scratch directory removed at the end of each test.
class KeyFiles : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string pattern = (fs::temp_directory_path() / "conveyor-keys-XXXXXX").string();
    ASSERT_NE(::mkdtemp(pattern.data()), nullptr);
    dir = pattern;
  }
  void TearDown() override { fs::remove_all(dir); }
  std::string write(const std::string& name, const std::string& text) {
    const std::string path = dir + "/" + name;
    std::ofstream(path) << text;
    return path;
  }
  std::string dir;
};

const KeyPair kA = generate_keypair();
const KeyPair kB = generate_keypair();
const KeyPair kC = generate_keypair();

TEST(CurveKeys, GeneratedKeysAreZ85AndThePublicKeyDerivesFromTheSecret) {
  EXPECT_TRUE(is_z85_key(kA.public_key));
  EXPECT_TRUE(is_z85_key(kA.secret_key));
  EXPECT_EQ(curve_public_key(kA.secret_key), kA.public_key);
  EXPECT_NE(kA.public_key, kB.public_key);
  EXPECT_FALSE(is_z85_key(kA.public_key.substr(1)));
  EXPECT_FALSE(is_z85_key(std::string(40, '"')));  // '"' is not in the Z85 alphabet
}

TEST(CurveKeys, ParsesOneKeyPerLineSkippingCommentsBlanksAndWhitespace) {
  const std::string text = "# producers\n\n  " + kA.public_key + "  \r\n\t" + kB.public_key +
                           "\n   # indented comment\n" + kC.public_key;  // no final newline
  auto keys = parse_key_lines(text, "list.txt");
  ASSERT_TRUE(keys) << keys.error();
  EXPECT_EQ(*keys, (std::vector<std::string>{kA.public_key, kB.public_key, kC.public_key}));
}

TEST(CurveKeys, AWrongLengthNamesTheOriginLineAndLength) {
  auto keys = parse_key_lines("# ok\n" + kA.public_key + "x\n", "list.txt");
  ASSERT_FALSE(keys);
  EXPECT_THAT(keys.error(), HasSubstr("list.txt line 2"));
  EXPECT_THAT(keys.error(), HasSubstr("41 characters, expected 40"));
  auto inner = parse_key_lines(kA.public_key.substr(0, 20) + " " + kA.public_key.substr(20), "f");
  ASSERT_FALSE(inner) << "a space inside a key is not trimmed away";
}

TEST_F(KeyFiles, AKeyFileHoldsExactlyOneKey) {
  EXPECT_EQ(read_key_file(write("a.pub", "# comment\n" + kA.public_key + "\n")), kA.public_key);
  const std::string two = write("two.pub", kA.public_key + "\n" + kB.public_key + "\n");
  EXPECT_THROW(read_key_file(two), KeyError);
  try {
    read_key_file(write("short.key", "abc\n"));
    FAIL() << "a 3-character key was accepted";
  } catch (const KeyError& e) {
    EXPECT_THAT(e.what(), HasSubstr("short.key line 1"));
    EXPECT_THAT(e.what(), HasSubstr("3 characters, expected 40"));
  }
  EXPECT_THROW(read_key_file(dir + "/missing.key"), KeyError);
  EXPECT_THROW(read_key_file(write("empty.key", "# nothing\n")), KeyError);
}

TEST_F(KeyFiles, ABrokerPublicKeyIsZ85TextOrAFile) {
  EXPECT_EQ(resolve_public_key(kA.public_key), kA.public_key);
  EXPECT_EQ(resolve_public_key(write("broker.pub", kA.public_key + "\n")), kA.public_key);
  EXPECT_THROW(resolve_public_key("not-a-key"), KeyError);
}

TEST_F(KeyFiles, ClientKeysNeedBothFlagsAndNameTheBadOne) {
  CurveConfig config;
  EXPECT_FALSE(load_client_keys(config).has_value()) << "--curve off: no keys";
  config.enabled = true;
  EXPECT_THROW(load_client_keys(config), KeyError);
  config.secret_key_file = write("me.key", kA.secret_key + "\n");
  config.broker_public_key = kB.public_key;
  auto keys = load_client_keys(config);
  ASSERT_TRUE(keys.has_value());
  EXPECT_EQ(keys->public_key, kA.public_key);
  EXPECT_EQ(keys->server_key, kB.public_key);
  config.secret_key_file = write("bad.key", "tooshort\n");
  try {
    load_client_keys(config);
    FAIL();
  } catch (const KeyError& e) {
    EXPECT_THAT(e.what(), HasSubstr("--curve-secret-key-file"));
    EXPECT_THAT(e.what(), HasSubstr("bad.key"));
  }
}

TEST_F(KeyFiles, KeyListsLoadFromAPubFileAListFileOrADirectory) {
  auto one = broker::KeyList::load(write("a.pub", kA.public_key + "\n"));
  ASSERT_TRUE(one) << one.error();
  EXPECT_EQ(one->size(), 1u);
  EXPECT_TRUE(one->contains(kA.public_key));

  auto list = broker::KeyList::load(
      write("list", "# team\n" + kA.public_key + "\n" + kB.public_key + "\n"));
  ASSERT_TRUE(list) << list.error();
  EXPECT_EQ(list->size(), 2u);
  EXPECT_TRUE(list->contains(kB.public_key));

  fs::create_directory(dir + "/keys");
  write("keys/a.pub", kA.public_key + "\n");
  write("keys/c.pub", "# c\n" + kC.public_key + "\n");
  write("keys/b.key", kB.secret_key + "\n");  // not a .pub: ignored
  auto folder = broker::KeyList::load(dir + "/keys");
  ASSERT_TRUE(folder) << folder.error();
  EXPECT_EQ(folder->size(), 2u);
  EXPECT_TRUE(folder->contains(kC.public_key));
  EXPECT_FALSE(folder->contains(kB.secret_key));
}

TEST_F(KeyFiles, ABadKeyListNamesTheFile) {
  auto missing = broker::KeyList::load(dir + "/nope");
  ASSERT_FALSE(missing);
  EXPECT_THAT(missing.error(), HasSubstr("nope"));
  auto bad = broker::KeyList::load(write("list", kA.public_key + "\nshort\n"));
  ASSERT_FALSE(bad);
  EXPECT_THAT(bad.error(), HasSubstr("list line 2"));
  fs::create_directory(dir + "/keys");
  write("keys/broken.pub", kA.public_key + kA.public_key + "\n");
  auto folder = broker::KeyList::load(dir + "/keys");
  ASSERT_FALSE(folder);
  EXPECT_THAT(folder.error(), HasSubstr("broken.pub"));
  auto admission = broker::Admission::load(write("p", kA.public_key), dir + "/keys");
  ASSERT_FALSE(admission);
  EXPECT_THAT(admission.error(), HasSubstr("--consumer-keys"));
}

TEST(HandshakeFailure, EachEventNamesItsLikelyCause) {
  auto refused =
      describe_handshake_failure({ZMQ_EVENT_HANDSHAKE_FAILED_AUTH, 400}, "--x-keys", true);
  EXPECT_EQ(refused, "the broker refused our key (not in its --x-keys?)");
  EXPECT_THAT(*describe_handshake_failure({ZMQ_EVENT_HANDSHAKE_FAILED_AUTH, 500}, "k", true),
              HasSubstr("ZAP status 500"));
  EXPECT_THAT(*describe_handshake_failure({ZMQ_EVENT_HANDSHAKE_FAILED_NO_DETAIL, 0}, "k", true),
              HasSubstr("wrong --broker-public-key?"));
  EXPECT_THAT(*describe_handshake_failure(
                  {ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL, ZMQ_PROTOCOL_ERROR_ZMTP_MECHANISM_MISMATCH},
                  "k", true),
              HasSubstr("--curve"));
  EXPECT_THAT(
      *describe_handshake_failure(
          {ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL, ZMQ_PROTOCOL_ERROR_ZMTP_CRYPTOGRAPHIC}, "k", true),
      HasSubstr("wrong --broker-public-key?"));
  EXPECT_FALSE(describe_handshake_failure({ZMQ_EVENT_HANDSHAKE_SUCCEEDED, 0}, "k", true));
  EXPECT_THAT(*describe_handshake_failure({ZMQ_EVENT_HANDSHAKE_FAILED_NO_DETAIL, 0}, "k", false),
              HasSubstr("does it use --curve?"));
}

TEST_F(KeyFiles, KeygenWritesASecretOnlyTheOwnerReadsAndAMatchingPublicKey) {
  auto written = keygen::write_keypair(dir + "/node");
  ASSERT_TRUE(written) << written.error();
  struct stat st {};
  ASSERT_EQ(::stat(written->secret_path.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  ASSERT_EQ(::stat(written->public_path.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0644u);
  const std::string secret = read_key_file(written->secret_path);
  EXPECT_EQ(read_key_file(written->public_path), written->public_key);
  EXPECT_EQ(curve_public_key(secret), written->public_key);
}

TEST_F(KeyFiles, KeygenRefusesToOverwriteEitherFile) {
  ASSERT_TRUE(keygen::write_keypair(dir + "/node"));
  const std::string before = read_key_file(dir + "/node.key");
  auto again = keygen::write_keypair(dir + "/node");
  ASSERT_FALSE(again);
  EXPECT_THAT(again.error(), HasSubstr("node.key exists already"));
  EXPECT_EQ(read_key_file(dir + "/node.key"), before);

  write("half.pub", "anything\n");  // only the .pub exists: no secret may be written either
  auto half = keygen::write_keypair(dir + "/half");
  ASSERT_FALSE(half);
  EXPECT_THAT(half.error(), HasSubstr("half.pub exists already"));
  EXPECT_FALSE(fs::exists(dir + "/half.key"));
  EXPECT_FALSE(keygen::write_keypair(dir + "/no/such/dir/x"));
}

}  // namespace
}  // namespace conveyor
