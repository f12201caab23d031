// Hostile or broken peers: garbage on both broker sockets is answered, counted and logged with
// the peer, and a normal job runs right after on the same broker.
#include <gtest/gtest.h>

#include <random>

#include <zmq.hpp>

#include "conveyor/common/codec.hpp"
#include "support/cluster.hpp"

namespace conveyor::testing {
namespace {

// A raw DEALER that speaks to the broker without any of our client code.
class RawPeer {
 public:
  RawPeer(zmq::context_t& context, const std::string& endpoint)
      : socket_(context, zmq::socket_type::dealer) {
    socket_.set(zmq::sockopt::linger, 0);
    socket_.connect(endpoint);
  }
  void send_frames(const std::vector<std::string>& frames) {
    for (std::size_t i = 0; i < frames.size(); ++i) {
      const auto flags = i + 1 < frames.size() ? zmq::send_flags::sndmore : zmq::send_flags::none;
      socket_.send(zmq::buffer(frames[i]), flags);
    }
  }
  // The next envelope from the broker, waiting at most 5 s.
  std::optional<wire::Envelope> receive() {
    zmq::pollitem_t item{socket_.handle(), 0, ZMQ_POLLIN, 0};
    if (zmq::poll(&item, 1, std::chrono::milliseconds(5000)) == 0) return std::nullopt;
    zmq::message_t frame;
    if (!socket_.recv(frame)) return std::nullopt;
    wire::Envelope envelope;
    if (decode(frame.to_string_view(), 1u << 30, envelope)) return std::nullopt;
    return envelope;
  }

 private:
  zmq::socket_t socket_;
};

std::string envelope_bytes(wire::Envelope envelope, std::uint32_t version = kProtocolVersion) {
  envelope.set_version(version);
  return envelope.SerializeAsString();
}

void expect_error(RawPeer& peer, wire::ErrorCode code) {
  auto reply = peer.receive();
  ASSERT_TRUE(reply.has_value()) << "no reply from the broker";
  ASSERT_TRUE(reply->has_error()) << reply->DebugString();
  EXPECT_EQ(reply->error().code(), code) << reply->error().text();
}

TEST(BadInput, GarbageOnBothSocketsIsAnsweredAndANormalJobRunsAfter) {
  Cluster job;
  job.start_broker({"--producers", "1", "--exit-when-drained", "--max-message-bytes", "65536",
                    "--max-payload-bytes", "1024"});
  zmq::context_t context(1);
  std::mt19937 random(42);
  std::string noise(300, '\0');
  for (char& c : noise)
    c = static_cast<char>(random());
  wire::Envelope hello;
  hello.mutable_hello()->set_role(wire::PRODUCER);
  hello.mutable_hello()->set_id("intruder");
  wire::Envelope tasks;
  tasks.mutable_tasks()->add_tasks()->set_payload("x");
  const std::string truncated = envelope_bytes(hello).substr(0, 5);

  for (const std::string& endpoint : {job.frontend(), job.backend()}) {
    RawPeer peer(context, endpoint);
    peer.send_frames({noise});
    expect_error(peer, wire::MALFORMED);
    peer.send_frames({""});
    expect_error(peer, wire::MALFORMED);
    peer.send_frames({envelope_bytes(hello), "extra"});
    expect_error(peer, wire::MALFORMED);
    peer.send_frames({truncated});
    expect_error(peer, wire::MALFORMED);
    peer.send_frames({envelope_bytes(hello, 7)});
    expect_error(peer, wire::VERSION_MISMATCH);
    peer.send_frames({std::string(70000, 'x')});
    expect_error(peer, wire::TOO_LARGE);
    peer.send_frames({envelope_bytes(tasks)});
    expect_error(peer, wire::NOT_WELCOMED);
  }
  RawPeer wrong(context, job.backend());  // a producer's hello on the consumer port
  wrong.send_frames({envelope_bytes(hello)});
  expect_error(wrong, wire::WRONG_SOCKET);

  job.start_consumer("c1", {"--handler", "echo"});
  Process& p = job.start_producer("p1", {"--source", "gen:200"});
  ASSERT_EQ(p.wait(30s), 0) << job.log("p1");
  EXPECT_EQ(job.broker().wait(20s), 0) << job.log("broker");
  EXPECT_EQ(read_results(job.results_path("p1")).size(), 200u);
  const std::string log = job.log("broker");
  EXPECT_NE(log.find("bad input (malformed) on the producer socket from peer"), std::string::npos)
      << log;
  EXPECT_NE(log.find("bad input (version_mismatch)"), std::string::npos);
  EXPECT_NE(log.find("at 127.0.0.1"), std::string::npos) << "the peer's address is logged";
}

TEST(BadInput, AnOversizedPayloadIsAFailedResultAndTheRestRuns) {
  Cluster job;
  job.start_broker({"--exit-when-drained", "--max-payload-bytes", "100"});
  job.start_consumer("c1", {"--handler", "echo"});
  write_file(job.path("in.txt"), "short\n" + std::string(500, 'y') + "\nshort again\n");
  Process& p = job.start_producer("p1", {"--source", "lines:" + job.path("in.txt")});
  ASSERT_EQ(p.wait(30s), 0) << job.log("p1");
  const auto results = read_results(job.results_path("p1"));
  ASSERT_EQ(results.size(), 3u);
  EXPECT_EQ(results.at(0).at("status"), "ok");
  EXPECT_EQ(results.at(1).at("status"), "failed");
  EXPECT_NE(results.at(1).at("error").get<std::string>().find("500 bytes"), std::string::npos);
  EXPECT_EQ(results.at(2).at("output"), "short again");
}

}  // namespace
}  // namespace conveyor::testing
