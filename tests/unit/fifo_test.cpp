// Fifo<T>: the order of a queue, storage kept and bounded, popped elements' resources freed.
#include "conveyor/common/fifo.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <deque>
#include <memory>
#include <random>
#include <vector>

namespace conveyor {
namespace {

std::vector<int> contents(const Fifo<int>& fifo) {
  return std::vector<int>(fifo.begin(), fifo.end());
}

TEST(Fifo, DrainedAndFilledAgainReusesItsStorage) {
  Fifo<int> fifo;
  for (int i = 0; i < 100; ++i)
    fifo.emplace_back(i);
  const std::size_t capacity = fifo.capacity();
  for (int round = 0; round < 50; ++round) {
    while (!fifo.empty())
      fifo.pop_front();
    for (int i = 0; i < 100; ++i)
      fifo.emplace_back(round * 100 + i);
    EXPECT_EQ(fifo.front(), round * 100);
  }
  EXPECT_EQ(fifo.capacity(), capacity);
  EXPECT_EQ(fifo.size(), 100u);
}

// Pushes and pops at random against std::deque: the same elements in the same order, and the
// storage under four times the most ever held, however it never drains.
TEST(Fifo, RandomPushesAndPopsKeepTheOrderOfADeque) {
  std::mt19937_64 random(17);
  Fifo<int> fifo;
  std::deque<int> model;
  std::size_t most = 1;
  int next = 0;
  for (int step = 0; step < 200'000; ++step) {
    // Phases that mostly push, then mostly pop, so that the queue grows, shrinks and rarely drains.
    const bool pushing = (step / 5'000) % 2 == 0 ? random() % 4 != 0 : random() % 4 == 0;
    if (pushing) {
      fifo.emplace_back(next);
      model.push_back(next++);
    } else if (!model.empty()) {
      ASSERT_EQ(fifo.front(), model.front());
      fifo.pop_front();
      model.pop_front();
    }
    most = std::max(most, model.size());
    ASSERT_EQ(fifo.size(), model.size());
    ASSERT_LT(fifo.capacity(), 4 * most) << "step " << step;
  }
  EXPECT_EQ(contents(fifo), std::vector<int>(model.begin(), model.end()));
}

TEST(Fifo, APoppedElementReleasesWhatItHeld) {
  Fifo<std::shared_ptr<int>> fifo;
  auto owner = std::make_shared<int>(7);
  fifo.emplace_back(owner);
  fifo.emplace_back(owner);
  ASSERT_EQ(owner.use_count(), 3);
  fifo.pop_front();  // not the last: its storage stays, its element must not hold on
  EXPECT_EQ(owner.use_count(), 2);
  fifo.pop_front();
  EXPECT_EQ(owner.use_count(), 1);
  EXPECT_TRUE(fifo.empty());
}

}  // namespace
}  // namespace conveyor
