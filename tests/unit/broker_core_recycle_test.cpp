// broker::Core::recycle: the buffers of sent task and result batches come back to be refilled,
// within bounds, and whatever they held before never shows in what they carry next.
#include <gtest/gtest.h>

#include "unit/broker_driver.hpp"

namespace conveyor::broker::testing {
namespace {

// A sent batch of `bytes` bytes of tasks, as the shell hands it back.
Outgoing sent_batch(std::size_t bytes) {
  BatchWriter batch;
  batch.start(BatchWriter::Kind::tasks);
  const std::string payload(bytes, 'x');
  batch.add([&](auto& task) { task.bytes(4, payload); });
  batch.finish();
  return Outgoing{Side::backend, "c1", {}, std::move(batch)};
}

TEST(BrokerCoreRecycle, KeepsAFewBatchesAndDropsTheRest) {
  BrokerDriver b;
  for (int i = 0; i < 10; ++i)
    b.core().recycle(sent_batch(100));
  EXPECT_EQ(b.core().spare_batches(), 8u);
  b.core().recycle(Outgoing{Side::frontend, "p1", pill(3)});
  EXPECT_EQ(b.core().spare_batches(), 8u) << "only batches are kept";
}

TEST(BrokerCoreRecycle, ABatchBufferOverTwoMebibytesIsNotKept) {
  BrokerDriver b;
  b.core().recycle(sent_batch(std::size_t{3} << 20));
  EXPECT_EQ(b.core().spare_batches(), 0u);
  b.core().recycle(sent_batch(std::size_t{1} << 20));
  EXPECT_EQ(b.core().spare_batches(), 1u);
}

TEST(BrokerCoreRecycle, RefilledBatchesCarryOnlyTheirOwnTasksAndResults) {
  BrokerDriver b;
  // Spares holding large, stale tasks (the driver recycles what it collects too).
  for (int i = 0; i < 8; ++i)
    b.core().recycle(sent_batch(5000));
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
