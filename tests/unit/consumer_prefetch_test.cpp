// consumer::AutoPrefetch: --prefetch auto sizes what a consumer holds from measured task times.
#include "conveyor/consumer/prefetch.hpp"

#include <gtest/gtest.h>

namespace conveyor::consumer {
namespace {

using std::chrono::microseconds;

TEST(AutoPrefetch, StartsAsDeepAsThePool) {
  HandlerTimes times;
  AutoPrefetch prefetch(4);
  EXPECT_EQ(prefetch.capacity(), 8u);
  EXPECT_EQ(prefetch.wanted_prefetch(times), 4u);
  EXPECT_EQ(prefetch.capacity_change(times), std::nullopt);
}

TEST(AutoPrefetch, FastTasksGetADeepPrefetchUpToTheCap) {
  HandlerTimes times;
  AutoPrefetch prefetch(2);
  times.on_batch(100, 6400, microseconds(100));  // 1 us per task, 64 bytes each
  EXPECT_EQ(prefetch.wanted_prefetch(times), AutoPrefetch::kMaxPrefetch);
  EXPECT_EQ(prefetch.capacity_change(times),
            std::optional<std::uint32_t>(2 + AutoPrefetch::kMaxPrefetch));
  EXPECT_EQ(prefetch.capacity_change(times), std::nullopt) << "announced once";
}

TEST(AutoPrefetch, PrefetchCoversFiveMillisecondsOfWorkPerWorker) {
  HandlerTimes times;
  AutoPrefetch prefetch(2);
  times.on_batch(10, 640, microseconds(1000));       // 100 us per task
  EXPECT_EQ(prefetch.wanted_prefetch(times), 100u);  // 2 workers x 5 ms / 100 us
}

TEST(AutoPrefetch, SlowTasksKeepItAsDeepAsThePool) {
  HandlerTimes times;
  AutoPrefetch prefetch(3);
  times.on_batch(1, 10, std::chrono::milliseconds(50));
  EXPECT_EQ(prefetch.wanted_prefetch(times), 3u);
  EXPECT_EQ(prefetch.capacity_change(times), std::nullopt) << "6 is still the capacity";
}

TEST(AutoPrefetch, LargePayloadsAreBoundedByMemory) {
  HandlerTimes times;
  AutoPrefetch prefetch(1);
  times.on_batch(10, 10 * (1u << 20), microseconds(10));  // 1 MiB each, fast
  EXPECT_EQ(prefetch.wanted_prefetch(times), 64u);
}

TEST(AutoPrefetch, SmallChangesAreNotAnnounced) {
  HandlerTimes times;
  AutoPrefetch prefetch(2);
  times.on_batch(10, 640, microseconds(1000));  // 100 us: wants 102
  ASSERT_EQ(prefetch.capacity_change(times), std::optional<std::uint32_t>(102));
  times.on_batch(10, 640, microseconds(1500));  // the mean drifts to 110 us
  EXPECT_EQ(prefetch.capacity_change(times), std::nullopt);
  for (int i = 0; i < 20; ++i)
    times.on_batch(1, 64, std::chrono::milliseconds(20));  // now slow
  const auto change = prefetch.capacity_change(times);
  ASSERT_TRUE(change.has_value());
  EXPECT_EQ(*change, 4u) << "back to concurrency + concurrency";
}

TEST(AutoPrefetch, EmptyBatchesChangeNothing) {
  HandlerTimes times;
  AutoPrefetch prefetch(2);
  times.on_batch(0, 0, microseconds(5));
  EXPECT_EQ(prefetch.wanted_prefetch(times), 2u);
}

}  // namespace
}  // namespace conveyor::consumer
