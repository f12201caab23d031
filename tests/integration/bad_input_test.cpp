// Hostile or broken peers: garbage on both broker sockets is answered and counted by kind, and a
// normal job runs right after on the same broker.
#include <gtest/gtest.h>

#include <csignal>
#include <random>
#include <sstream>

#include <zmq.hpp>

#include "conveyor/common/codec.hpp"
#include "support/cluster.hpp"
#include "support/http.hpp"

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

// conveyor_bad_frames_total by kind, the kinds counted at least once, from the broker's /metrics.
std::map<std::string, double> bad_frames(int metrics_port) {
  const std::string prefix = "conveyor_bad_frames_total{kind=\"";
  std::map<std::string, double> counts;
  std::istringstream lines(http_get(metrics_port, "/metrics").value_or(""));
  for (std::string line; std::getline(lines, line);) {
    if (line.rfind(prefix, 0) != 0) continue;
    const auto end = line.find('"', prefix.size());
    const double value = std::stod(line.substr(line.find(' ', end) + 1));
    if (value > 0) counts[line.substr(prefix.size(), end - prefix.size())] = value;
  }
  return counts;
}

std::string counts_text(const std::map<std::string, double>& counts) {
  std::string text;
  for (const auto& [kind, count] : counts)
    text += kind + "=" + std::to_string(count) + " ";
  return text;
}

TEST(BadInput, GarbageOnBothSocketsIsAnsweredCountedAndANormalJobRunsAfter) {
  Cluster job;
  const int metrics_port = free_port();
  std::vector<std::string> flags = metrics_flags(metrics_port);
  // No --exit-when-drained: the broker's counters are read after the job, then it is stopped.
  flags.insert(flags.end(),
               {"--producers", "1", "--max-message-bytes", "65536", "--max-payload-bytes", "1024"});
  job.start_broker(flags);
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

  // Each bad frame counted once under its kind, on both sockets (the metrics lag by a tick).
  const std::map<std::string, double> expected = {
      {"malformed", 4}, {"empty", 2},        {"frame_count", 2},  {"version_mismatch", 2},
      {"too_large", 2}, {"not_welcomed", 2}, {"wrong_socket", 1},
  };
  EXPECT_TRUE(wait_until([&] { return bad_frames(metrics_port) == expected; }, 10s))
      << counts_text(bad_frames(metrics_port));

  job.start_consumer("c1", {"--handler", "echo"});
  Process& p = job.start_producer("p1", {"--source", "gen:200"});
  ASSERT_EQ(p.wait(30s), 0) << job.log("p1");
  EXPECT_EQ(read_results(job.results_path("p1")).size(), 200u);
  const auto status = job.wait_status([](const auto& s) { return s.drained(); }, 10s);
  ASSERT_TRUE(status) << describe(job.status());
  EXPECT_EQ(status->totals().ok(), 200u) << describe(status);
  EXPECT_EQ(status->bad_frames(), 15u) << "the job added no bad frame: " << describe(status);
  job.broker().signal(SIGTERM);
  EXPECT_EQ(job.broker().wait(20s), 0) << job.log("broker");
}

TEST(BadInput, AnOversizedPayloadIsAFailedResultAndTheRestRuns) {
  Cluster job;
  job.start_broker({"--exit-when-drained", "--max-payload-bytes", "100"});
  job.start_consumer("c1", {"--handler", "echo"});
  write_file(job.path("in.txt"), "short\n" + std::string(500, 'y') + "\nshort again\n");
  Process& p = job.start_producer("p1", {"--source", "lines:" + job.path("in.txt")});
  ASSERT_EQ(p.wait(30s), kSomeTasksFailed) << job.log("p1");
  const auto results = read_results(job.results_path("p1"));
  ASSERT_EQ(results.size(), 3u);
  EXPECT_EQ(results.at(0).at("status"), "ok");
  EXPECT_EQ(results.at(1).at("status"), "failed");
  EXPECT_NE(results.at(1).at("error").get<std::string>().find("500 bytes"), std::string::npos);
  EXPECT_EQ(results.at(2).at("output"), "short again");
}

}  // namespace
}  // namespace conveyor::testing
