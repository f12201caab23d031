// broker::Core::recycle: sent task and result batches come back to be refilled, within bounds, and
// whatever they held before never shows in what they carry next.
#include <gtest/gtest.h>

#include "unit/broker_driver.hpp"

namespace conveyor::broker::testing {
namespace {

std::vector<std::uint64_t> seqs(std::uint64_t from, std::uint64_t to) {
  std::vector<std::uint64_t> out;
  for (auto s = from; s < to; ++s)
    out.push_back(s);
  return out;
}

TEST(BrokerCoreRecycle, KeepsAFewBatchesPerKindAndDropsTheRest) {
  BrokerDriver b;
  for (int i = 0; i < 10; ++i)
    b.core().recycle(task_batch({1, 2}));
  EXPECT_EQ(b.core().spare_batches(), 4u);
  for (int i = 0; i < 10; ++i)
    b.core().recycle(result_batch({result("p1", 1)}));
  EXPECT_EQ(b.core().spare_batches(), 8u);
  wire::Envelope pill_envelope = pill(3);
  b.core().recycle(std::move(pill_envelope));
  EXPECT_EQ(b.core().spare_batches(), 8u) << "only task and result batches are kept";
}

TEST(BrokerCoreRecycle, ABatchOfMoreThan4096TasksIsNotKept) {
  BrokerDriver b;
  b.core().recycle(task_batch(seqs(0, 4097)));
  EXPECT_EQ(b.core().spare_batches(), 0u);
  b.core().recycle(task_batch(seqs(0, 4096)));
  EXPECT_EQ(b.core().spare_batches(), 1u);
}

TEST(BrokerCoreRecycle, RefilledBatchesCarryOnlyTheirOwnTasksAndResults) {
  BrokerDriver b;
  // Spares holding large, stale payloads and outputs (the driver recycles what it collects too).
  for (int i = 0; i < 4; ++i) {
    b.core().recycle(task_batch({90, 91, 92}, std::string(5000, 's')));
    b.core().recycle(result_batch({result("p9", 9, wire::OK, std::string(5000, 'o'))}));
  }
  b.connect_producer("p1");
  b.connect_consumer("c1", 10);
  b.send_tasks("p1", {0, 1});
  auto tasks = b.flush_and_take_tasks("c1");
  ASSERT_EQ(tasks.size(), 2u);
  EXPECT_EQ(tasks[0].payload(), "payload-0");
  EXPECT_EQ(tasks[1].payload(), "payload-1");
  EXPECT_EQ(tasks[1].producer(), "p1");
  b.send_results("c1", {result("p1", 0, wire::OK, "done-0")});
  b.flush();
  const auto results = b.take_results("p1");
  ASSERT_EQ(results.size(), 1u);
  EXPECT_EQ(results[0].seq(), 0u);
  EXPECT_EQ(results[0].output(), "done-0");
  EXPECT_EQ(results[0].consumer(), "c1");
  EXPECT_TRUE(results[0].producer().empty());
}

}  // namespace
}  // namespace conveyor::broker::testing
