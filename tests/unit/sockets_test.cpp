// common/sockets: inproc names and a bounded context shutdown.
#include "conveyor/common/sockets.hpp"

#include <gtest/gtest.h>

#include <chrono>
#include <set>

namespace conveyor {
namespace {

using namespace std::chrono_literals;

TEST(Sockets, InprocEndpointsAreNeverReused) {
  std::set<std::string> seen;
  for (int i = 0; i < 1000; ++i)
    EXPECT_TRUE(seen.insert(unique_inproc_endpoint("t")).second);
  EXPECT_EQ(seen.begin()->rfind("inproc://t-", 0), 0u);
}

TEST(Sockets, ContextWithClosedSocketsClosesInTime) {
  zmq::context_t context(1);
  {
    zmq::socket_t socket(context, zmq::socket_type::dealer);
    socket.set(zmq::sockopt::linger, 0);
    socket.connect("tcp://127.0.0.1:1");
  }
  EXPECT_TRUE(close_context_within(context, 2000ms));
  EXPECT_EQ(context.handle(), nullptr);
}

TEST(Sockets, ContextThatHangsIsReportedInsteadOfWaitedFor) {
  // A socket left open makes zmq_ctx_term wait for it: the stand-in for an I/O thread stuck in
  // a DNS lookup. The context is leaked on purpose: the closer thread still uses it, and a
  // destructor would terminate it a second time.
  static auto* const context = new zmq::context_t(1);
  zmq::socket_t open_socket(*context, zmq::socket_type::pair);
  open_socket.set(zmq::sockopt::linger, 0);
  const auto start = std::chrono::steady_clock::now();
  EXPECT_FALSE(close_context_within(*context, 100ms));
  EXPECT_LT(std::chrono::steady_clock::now() - start, 5s);
  open_socket.close();  // lets the closer thread finish
}

}  // namespace
}  // namespace conveyor
