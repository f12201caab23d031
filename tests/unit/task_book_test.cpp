// TaskBook: the broker's tasks by id and the ticketed FIFO of those waiting for a consumer.
#include "conveyor/broker/task_book.hpp"

#include <gtest/gtest.h>

#include <vector>

namespace conveyor::broker {
namespace {

TaskRecord record(std::string payload) {
  TaskRecord r;
  r.payload = std::move(payload);
  return r;
}

// Pops everything queued, marking each in flight as dispatch does.
std::vector<TaskKey> pop_all(TaskBook& book) {
  std::vector<TaskKey> keys;
  while (auto next = book.pop_queued()) {
    next->second->state = TaskState::in_flight;
    keys.push_back(next->first);
  }
  return keys;
}

// Pops one and marks it in flight, held by `holder`.
TaskKey pop_one(TaskBook& book, std::uint64_t holder = 1) {
  auto next = book.pop_queued();
  EXPECT_TRUE(next.has_value());
  if (!next) return {};
  next->second->state = TaskState::in_flight;
  next->second->holder = holder;
  return next->first;
}

TEST(TaskBook, NewTasksPopInFifoOrder) {
  TaskBook book;
  book.add({0, 2}, record("a"));
  book.add({1, 0}, record("b"));
  book.add({0, 1}, record("c"));
  EXPECT_EQ(pop_all(book), (std::vector<TaskKey>{{0, 2}, {1, 0}, {0, 1}}));
  EXPECT_FALSE(book.pop_queued().has_value());
}

TEST(TaskBook, AddedTaskIsQueuedWithItsPayload) {
  TaskBook book;
  TaskRecord r = record("payload");
  r.state = TaskState::in_flight;  // whatever the caller left: add() queues it
  book.add({0, 0}, std::move(r));
  TaskRecord* found = book.find({0, 0});
  ASSERT_NE(found, nullptr);
  EXPECT_EQ(found->payload, "payload");
  EXPECT_EQ(found->state, TaskState::queued);
  EXPECT_TRUE(book.contains({0, 0}));
  EXPECT_FALSE(book.contains({0, 1}));
  EXPECT_EQ(book.find({0, 1}), nullptr);
}

// A task sent again (a producer's reconnect) finds its key in the book: try_add() leaves the
// record, the queue and the counts as they were.
TEST(TaskBook, TryAddOfAKeyInTheBookChangesNothing) {
  TaskBook book;
  TaskRecord* first = book.try_add({0, 5}, 0);
  ASSERT_NE(first, nullptr);
  first->payload = "first";
  EXPECT_EQ(book.try_add({0, 5}, 0), nullptr);
  EXPECT_EQ(book.size(), 1u);
  EXPECT_EQ(book.queued(), 1u);
  EXPECT_EQ(book.load(0).held, 1u);
  EXPECT_EQ(book.find({0, 5})->payload, "first");
  EXPECT_EQ(pop_all(book), (std::vector<TaskKey>{{0, 5}}));
}

// Erasing with the record in hand is erasing by key: gone from the book, the counts and the FIFO.
TEST(TaskBook, EraseWithTheRecordInHandIsEraseByKey) {
  TaskBook book;
  book.add({0, 0}, record("a"));
  book.add({0, 1}, record("b"));
  book.erase({0, 0}, *book.find({0, 0}));
  EXPECT_FALSE(book.contains({0, 0}));
  EXPECT_EQ(book.size(), 1u);
  EXPECT_EQ(book.queued(), 1u);
  EXPECT_EQ(book.load(0).held, 1u);
  EXPECT_EQ(pop_all(book), (std::vector<TaskKey>{{0, 1}}));
}

TEST(TaskBook, PoppedTaskStaysInTheBookButLeavesTheQueue) {
  TaskBook book;
  book.add({0, 0}, record("a"));
  book.add({0, 1}, record("b"));
  EXPECT_EQ(book.queued(), 2u);
  pop_one(book);
  EXPECT_EQ(book.queued(), 1u);
  EXPECT_EQ(book.size(), 2u);
  EXPECT_TRUE(book.contains({0, 0}));
}

TEST(TaskBook, RequeueFrontGoesAheadOfQueuedTasks) {
  TaskBook book;
  for (std::uint64_t seq = 0; seq < 4; ++seq)
    book.add({0, seq}, record("x"));
  const TaskKey first = pop_one(book);
  const TaskKey second = pop_one(book);
  book.requeue_front(second, *book.find(second));
  book.requeue_front(first, *book.find(first));
  EXPECT_EQ(book.queued(), 4u);
  EXPECT_EQ(pop_all(book), (std::vector<TaskKey>{{0, 0}, {0, 1}, {0, 2}, {0, 3}}));
}

TEST(TaskBook, RequeuedRecordIsQueuedWithNoHolder) {
  TaskBook book;
  book.add({0, 0}, record("a"));
  const TaskKey key = pop_one(book, 42);
  TaskRecord& r = *book.find(key);
  ASSERT_EQ(r.holder, 42u);
  book.requeue_front(key, r);
  EXPECT_EQ(r.state, TaskState::queued);
  EXPECT_EQ(r.holder, 0u);
}

TEST(TaskBook, PopSkipsTheEntryOfAnErasedQueuedTask) {
  TaskBook book;
  book.add({0, 0}, record("a"));
  book.add({0, 1}, record("b"));
  book.add({0, 2}, record("c"));
  book.erase({0, 1});
  EXPECT_EQ(book.queued(), 2u);
  EXPECT_EQ(book.size(), 2u);
  EXPECT_EQ(pop_all(book), (std::vector<TaskKey>{{0, 0}, {0, 2}}));
}

TEST(TaskBook, TaskErasedAndAddedAgainIsPoppedOnceAtItsNewPlace) {
  TaskBook book;
  book.add({0, 0}, record("a"));
  book.add({0, 1}, record("b"));
  book.erase({0, 0});
  book.add({0, 0}, record("a again"));  // the old FIFO entry is stale: its ticket is old
  EXPECT_EQ(book.queued(), 2u);
  EXPECT_EQ(pop_all(book), (std::vector<TaskKey>{{0, 1}, {0, 0}}));
  EXPECT_EQ(book.find({0, 0})->payload, "a again");
}

TEST(TaskBook, TaskRequeuedManyTimesIsPoppedOncePerRequeue) {
  TaskBook book;
  book.add({0, 0}, record("a"));
  book.add({0, 1}, record("b"));
  for (int i = 0; i < 5; ++i) {
    const TaskKey key = pop_one(book);
    ASSERT_EQ(key, (TaskKey{0, 0})) << "round " << i;
    book.requeue_front(key, *book.find(key));
  }
  EXPECT_EQ(pop_all(book), (std::vector<TaskKey>{{0, 0}, {0, 1}}));
  EXPECT_EQ(book.queued(), 0u);
}

TEST(TaskBook, ErasingAnInFlightTaskLeavesTheQueueCountAlone) {
  TaskBook book;
  book.add({0, 0}, record("a"));
  book.add({0, 1}, record("b"));
  const TaskKey key = pop_one(book);
  book.erase(key);
  EXPECT_EQ(book.queued(), 1u);
  EXPECT_EQ(book.size(), 1u);
  EXPECT_EQ(pop_all(book), (std::vector<TaskKey>{{0, 1}}));
}

TEST(TaskBook, ErasingAnUnknownTaskChangesNothing) {
  TaskBook book;
  book.add({0, 0}, record("a"));
  book.erase({3, 9});
  EXPECT_EQ(book.size(), 1u);
  EXPECT_EQ(book.queued(), 1u);
  EXPECT_EQ(book.load(0).held, 1u);
}

TEST(TaskBook, ErasingTheLastTaskEmptiesTheBookAndItStillWorks) {
  TaskBook book;
  book.add({0, 0}, record("a"));
  book.add({0, 1}, record("b"));
  book.erase({0, 1});
  book.erase({0, 0});
  EXPECT_TRUE(book.empty());
  EXPECT_EQ(book.queued(), 0u);
  EXPECT_FALSE(book.pop_queued().has_value());
  book.add({0, 1}, record("c"));
  EXPECT_EQ(pop_all(book), (std::vector<TaskKey>{{0, 1}}));
}

TEST(TaskBook, EachQueueHasItsOwnFifoAndLoad) {
  TaskBook book;
  TaskRecord in_one = record("a");
  in_one.queue = 1;
  book.add({0, 0}, std::move(in_one));
  book.add({0, 1}, record("b"));
  EXPECT_EQ(book.load(0).queued, 1u);
  EXPECT_EQ(book.load(1).queued, 1u);
  EXPECT_EQ(book.load(7).held, 0u) << "an unseen queue holds nothing";
  const auto from_one = book.pop_queued(1);
  ASSERT_TRUE(from_one.has_value());
  EXPECT_EQ(from_one->first, (TaskKey{0, 0}));
  from_one->second->state = TaskState::in_flight;
  EXPECT_FALSE(book.pop_queued(1).has_value());
  EXPECT_EQ(book.load(1).held, 1u) << "in flight still counts: held until its result";
  EXPECT_EQ(book.load(1).queued, 0u);
  book.delay({0, 0}, *book.find({0, 0}), TimePoint{});
  EXPECT_EQ(book.load(1).delayed, 1u);
  book.erase({0, 0});
  EXPECT_EQ(book.load(1).held, 0u);
  EXPECT_EQ(book.load(1).delayed, 0u);
  EXPECT_EQ(book.load(0).held, 1u);
}

}  // namespace
}  // namespace conveyor::broker
