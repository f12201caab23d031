// EventLoop with the real clock: timers, rounds, watches and stop(). Every loop has a deadline
// timer that fails the test and stops the loop instead of letting it hang.
#include "conveyor/common/event_loop.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <string>
#include <vector>

namespace conveyor {
namespace {

using ::testing::ElementsAre;

constexpr auto kDeadline = std::chrono::seconds(10);

void add_deadline(EventLoop& loop) {
  loop.after(kDeadline, [&loop] {
    ADD_FAILURE() << "the loop was still running at the deadline";
    loop.stop();
  });
}

TEST(EventLoop, TimersFireInDeadlineOrder) {
  EventLoop loop;
  add_deadline(loop);
  std::vector<int> fired;
  loop.after(milliseconds(30), [&] { fired.push_back(3); });
  loop.after(milliseconds(10), [&] { fired.push_back(1); });
  loop.after(milliseconds(20), [&] { fired.push_back(2); });
  loop.after(milliseconds(40), [&] { loop.stop(); });
  loop.run();
  EXPECT_THAT(fired, ElementsAre(1, 2, 3));
}

TEST(EventLoop, AZeroDelayTimerFiresOnTheFirstRound) {
  EventLoop loop;
  add_deadline(loop);
  bool fired = false;
  loop.after(milliseconds(0), [&] {
    fired = true;
    loop.stop();
  });
  loop.run();
  EXPECT_TRUE(fired);
}

TEST(EventLoop, EveryRepeatsUntilCancelled) {
  EventLoop loop;
  add_deadline(loop);
  int ticks = 0;
  EventLoop::TimerId id = 0;
  id = loop.every(milliseconds(1), [&] {
    if (++ticks == 5) {
      loop.cancel(id);  // from inside its own callback
      loop.after(milliseconds(20), [&] { loop.stop(); });
    }
  });
  loop.run();
  EXPECT_EQ(ticks, 5);
}

TEST(EventLoop, ACancelledTimerNeverFires) {
  EventLoop loop;
  add_deadline(loop);
  bool fired = false;
  const auto id = loop.after(milliseconds(1), [&] { fired = true; });
  loop.after(milliseconds(20), [&] { loop.stop(); });
  loop.cancel(id);
  loop.run();
  EXPECT_FALSE(fired);
}

TEST(EventLoop, CancellingAnUnknownTimerIsHarmless) {
  EventLoop loop;
  add_deadline(loop);
  bool fired = false;
  const auto id = loop.after(milliseconds(1), [&] {
    fired = true;
    loop.stop();
  });
  loop.cancel(id + 1000);
  loop.run();
  EXPECT_TRUE(fired);
}

TEST(EventLoop, AfterEachRoundRunsAfterTheRoundsCallbacks) {
  EventLoop loop;
  add_deadline(loop);
  std::vector<std::string> events;
  bool timer_fired = false;
  loop.after_each_round([&] {
    events.push_back("round");
    if (timer_fired) loop.stop();
  });
  loop.after(milliseconds(1), [&] {
    events.push_back("timer");
    timer_fired = true;
  });
  loop.run();
  // Rounds where nothing was due may run the hook too; what matters is that one follows the timer.
  ASSERT_GE(events.size(), 2u);
  EXPECT_EQ(events[events.size() - 2], "timer");
  EXPECT_EQ(events.back(), "round");
}

TEST(EventLoop, StopFromAWatchCallbackEndsRun) {
  zmq::context_t context(1);
  zmq::socket_t inbox(context, zmq::socket_type::pair);
  zmq::socket_t outbox(context, zmq::socket_type::pair);
  inbox.set(zmq::sockopt::linger, 0);
  outbox.set(zmq::sockopt::linger, 0);
  inbox.bind("inproc://event-loop-test-stop");
  outbox.connect("inproc://event-loop-test-stop");
  EventLoop loop;
  add_deadline(loop);
  std::string received;
  loop.watch(inbox, [&] {
    zmq::message_t message;
    if (inbox.recv(message, zmq::recv_flags::dontwait)) received = message.to_string();
    loop.stop();
  });
  outbox.send(zmq::str_buffer("wake"), zmq::send_flags::none);
  loop.run();
  EXPECT_EQ(received, "wake");
  EXPECT_FALSE(loop.running());
}

TEST(EventLoop, StopFromATimerSkipsTheRestOfTheRound) {
  EventLoop loop;
  add_deadline(loop);
  bool later_fired = false;
  int hooks = 0;
  int hooks_at_stop = -1;
  loop.after_each_round([&] { ++hooks; });
  // Both are due by the first round's poll: it waits for nothing when a timer is overdue.
  loop.after(milliseconds(0), [&] {
    hooks_at_stop = hooks;
    loop.stop();
  });
  loop.after(milliseconds(0), [&] { later_fired = true; });
  loop.run();
  EXPECT_FALSE(later_fired) << "a timer due in the same round must not run after stop()";
  EXPECT_EQ(hooks, hooks_at_stop) << "nor may the round's hooks";
}

TEST(EventLoop, WatchesAFileDescriptorUntilUnwatched) {
  int fds[2];
  ASSERT_EQ(::pipe(fds), 0);
  EventLoop loop;
  add_deadline(loop);
  int calls = 0;
  loop.watch(fds[0], [&] {
    char byte;
    ASSERT_EQ(::read(fds[0], &byte, 1), 1);
    ++calls;
    loop.unwatch(fds[0]);
    // Another byte: an unwatched fd must not call back again, so the next wake is this timer.
    ASSERT_EQ(::write(fds[1], "y", 1), 1);
    loop.after(milliseconds(20), [&] { loop.stop(); });
  });
  ASSERT_EQ(::write(fds[1], "x", 1), 1);
  loop.run();
  EXPECT_EQ(calls, 1);
  ::close(fds[0]);
  ::close(fds[1]);
}

}  // namespace
}  // namespace conveyor
