// KeySet: the flat set of a consumer's in-flight task keys.
#include "conveyor/broker/key_set.hpp"

#include <gtest/gtest.h>

#include <random>
#include <set>

namespace conveyor::broker {
namespace {

std::set<TaskKey> contents(const KeySet& keys) {
  std::set<TaskKey> out;
  keys.for_each([&](const TaskKey& key) { EXPECT_TRUE(out.insert(key).second) << "twice"; });
  return out;
}

TEST(KeySet, InsertFindEraseAndTheirAnswers) {
  KeySet keys;
  EXPECT_FALSE(keys.contains({0, 1}));
  EXPECT_TRUE(keys.insert({0, 1}));
  EXPECT_FALSE(keys.insert({0, 1}));
  EXPECT_TRUE(keys.insert({1, 1}));
  EXPECT_TRUE(keys.contains({0, 1}));
  EXPECT_FALSE(keys.contains({0, 2}));
  EXPECT_EQ(keys.size(), 2u);
  EXPECT_TRUE(keys.erase({0, 1}));
  EXPECT_FALSE(keys.erase({0, 1}));
  EXPECT_FALSE(keys.contains({0, 1}));
  EXPECT_TRUE(keys.contains({1, 1}));
  EXPECT_EQ(contents(keys), (std::set<TaskKey>{{1, 1}}));
  keys.clear();
  EXPECT_TRUE(keys.empty());
  EXPECT_FALSE(keys.contains({1, 1}));
}

// Random inserts and erases over a small key space (long probe runs, wrap-around, growth),
// checked against std::set after every step.
TEST(KeySet, BehavesAsASetUnderRandomUse) {
  for (unsigned seed = 1; seed <= 20; ++seed) {
    std::mt19937 random(seed);
    KeySet keys;
    std::set<TaskKey> model;
    for (int step = 0; step < 5000; ++step) {
      const TaskKey key{static_cast<std::uint32_t>(random() % 3), random() % 200};
      if (random() % 3 != 0) {
        ASSERT_EQ(keys.insert(key), model.insert(key).second) << "seed " << seed;
      } else {
        ASSERT_EQ(keys.erase(key), model.erase(key) == 1) << "seed " << seed;
      }
      ASSERT_EQ(keys.size(), model.size());
      const TaskKey probe{static_cast<std::uint32_t>(random() % 3), random() % 200};
      ASSERT_EQ(keys.contains(probe), model.count(probe) == 1) << "seed " << seed;
    }
    EXPECT_EQ(contents(keys), model) << "seed " << seed;
  }
}

}  // namespace
}  // namespace conveyor::broker
