#include "conveyor/common/event_loop.hpp"

#include <algorithm>

namespace conveyor {

void EventLoop::watch(zmq::socket_t& socket, Callback on_readable) {
  watches_.push_back(Watch{socket.handle(), -1, ZMQ_POLLIN, std::move(on_readable)});
  watches_dirty_ = true;
}

void EventLoop::watch(int fd, Callback on_readable) {
  watches_.push_back(Watch{nullptr, fd, ZMQ_POLLIN, std::move(on_readable)});
  watches_dirty_ = true;
}

void EventLoop::watch_writable(int fd, Callback on_writable) {
  watches_.push_back(Watch{nullptr, fd, ZMQ_POLLOUT, std::move(on_writable)});
  watches_dirty_ = true;
}

void EventLoop::unwatch(zmq::socket_t& socket) {
  for (auto& w : watches_) {
    if (w.socket == socket.handle()) w.removed = true;
  }
  watches_dirty_ = true;
}

void EventLoop::unwatch(int fd) {
  for (auto& w : watches_) {
    if (w.socket == nullptr && w.fd == fd && w.events == ZMQ_POLLIN) w.removed = true;
  }
  watches_dirty_ = true;
}

void EventLoop::unwatch_writable(int fd) {
  for (auto& w : watches_) {
    if (w.socket == nullptr && w.fd == fd && w.events == ZMQ_POLLOUT) w.removed = true;
  }
  watches_dirty_ = true;
}

EventLoop::TimerId EventLoop::after(Duration delay, Callback callback) {
  const TimerId id = next_timer_id_++;
  timers_.emplace(Clock::now() + delay, Timer{id, Duration::zero(), std::move(callback)});
  return id;
}

EventLoop::TimerId EventLoop::every(Duration period, Callback callback) {
  const TimerId id = next_timer_id_++;
  timers_.emplace(Clock::now() + period, Timer{id, period, std::move(callback)});
  return id;
}

void EventLoop::cancel(TimerId id) {
  for (auto it = timers_.begin(); it != timers_.end(); ++it) {
    if (it->second.id == id) {
      timers_.erase(it);
      return;
    }
  }
}

void EventLoop::after_each_round(Callback callback) {
  round_hooks_.push_back(std::move(callback));
}

void EventLoop::run() {
  running_ = true;
  while (running_)
    poll_once();
}

void EventLoop::compact_watches() {
  std::erase_if(watches_, [](const Watch& w) { return w.removed; });
  items_.clear();
  for (const auto& w : watches_) {
    items_.push_back(zmq_pollitem_t{w.socket, w.fd, w.events, 0});
  }
  watches_dirty_ = false;
}

milliseconds EventLoop::poll_timeout(TimePoint now) const {
  if (timers_.empty()) return milliseconds(-1);
  const auto due = timers_.begin()->first;
  if (due <= now) return milliseconds(0);
  // Round up: waking a millisecond early would only spin once more.
  return std::chrono::ceil<milliseconds>(due - now);
}

void EventLoop::fire_due_timers(TimePoint now) {
  while (!timers_.empty() && timers_.begin()->first <= now) {
    auto node = timers_.extract(timers_.begin());
    Timer& timer = node.mapped();
    if (timer.period > Duration::zero()) {
      // Reschedule before the call so the callback may cancel its own timer.
      auto callback = timer.callback;
      node.key() = std::max(node.key() + timer.period, now);
      timers_.insert(std::move(node));
      callback();
    } else {
      timer.callback();
    }
    if (!running_) return;
  }
}

void EventLoop::poll_once() {
  if (watches_dirty_) compact_watches();
  zmq::poll(items_, poll_timeout(Clock::now()));
  // Callbacks may add or remove watches: iterate over the snapshot taken for this poll.
  const std::size_t polled = items_.size();
  for (std::size_t i = 0; i < polled && running_; ++i) {
    // POLLHUP on a pipe comes back as ZMQ_POLLERR: the owner reads or writes to learn the end.
    const short ready = items_[i].revents & (items_[i].events | ZMQ_POLLERR);
    if (ready && !watches_[i].removed) watches_[i].on_ready();
  }
  if (running_) fire_due_timers(Clock::now());
  for (auto& hook : round_hooks_) {
    if (!running_) break;
    hook();
  }
}

}  // namespace conveyor
