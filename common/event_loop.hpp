// EventLoop: one per process thread. zmq::poll over sockets and plain fds (signalfd, pipes), a
// sorted list of timers, and "after each round" hooks where components flush what the round
// produced: batching follows the load (one message per round) without a timer adding latency.
#pragma once

#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <vector>

#include <zmq.hpp>

#include "conveyor/common/clock.hpp"

namespace conveyor {

class EventLoop {
 public:
  using Callback = std::function<void()>;
  using TimerId = std::uint64_t;

  // Calls `on_readable` whenever `socket` has a message; the callback should drain what it can.
  void watch(zmq::socket_t& socket, Callback on_readable);
  // The same for a file descriptor (level-triggered; a hung-up or failed fd counts as readable,
  // so that its owner reads the end of it).
  void watch(int fd, Callback on_readable);
  // Calls `on_writable` while `fd` can be written to (or has failed): watch it only while there
  // is something to write.
  void watch_writable(int fd, Callback on_writable);
  // Stops watching; safe to call from inside a callback.
  void unwatch(zmq::socket_t& socket);
  void unwatch(int fd);
  void unwatch_writable(int fd);

  TimerId after(Duration delay, Callback callback);
  TimerId every(Duration period, Callback callback);
  void cancel(TimerId id);

  // Runs after every poll round in which anything happened (readable or timer).
  void after_each_round(Callback callback);

  // Polls until stop() is called from a callback.
  void run();
  void stop() { running_ = false; }
  bool running() const { return running_; }

 private:
  struct Watch {
    void* socket = nullptr;
    int fd = -1;
    short events = ZMQ_POLLIN;
    Callback on_ready;
    bool removed = false;
  };
  struct Timer {
    TimerId id;
    Duration period;  // zero for one-shot timers
    Callback callback;
  };

  void poll_once();
  void fire_due_timers(TimePoint now);
  void compact_watches();
  milliseconds poll_timeout(TimePoint now) const;

  std::deque<Watch> watches_;  // a deque: watching from a callback must not move the caller
  std::vector<zmq_pollitem_t> items_;
  std::multimap<TimePoint, Timer> timers_;
  std::vector<Callback> round_hooks_;
  TimerId next_timer_id_ = 1;
  bool running_ = false;
  bool watches_dirty_ = false;
};

}  // namespace conveyor
