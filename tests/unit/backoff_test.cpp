// common/backoff: bounded exponential backoff with jitter.
#include "conveyor/common/backoff.hpp"

#include <gtest/gtest.h>

namespace conveyor {
namespace {

bool within_jitter(Duration got, Duration base) {
  return got >= base * 8 / 10 && got <= base * 12 / 10;
}

TEST(Backoff, DoublesFromInitialUpToMax) {
  Backoff backoff(milliseconds(100), milliseconds(1000), 1);
  const long long expected[] = {100, 200, 400, 800, 1000, 1000, 1000};
  for (const long long ms : expected) {
    EXPECT_EQ(backoff.base(), milliseconds(ms));
    const Duration got = backoff.next();
    EXPECT_TRUE(within_jitter(got, milliseconds(ms))) << to_ms(got) << " for " << ms;
  }
  EXPECT_EQ(backoff.attempts(), 7u);
}

TEST(Backoff, ResetStartsOver) {
  Backoff backoff(milliseconds(100), milliseconds(1000), 2);
  backoff.next();
  backoff.next();
  backoff.reset();
  EXPECT_EQ(backoff.attempts(), 0u);
  EXPECT_EQ(backoff.base(), milliseconds(100));
}

TEST(Backoff, JitterSpreadsPeersApart) {
  Backoff a(milliseconds(1000), milliseconds(1000), 1);
  Backoff b(milliseconds(1000), milliseconds(1000), 2);
  int differ = 0;
  for (int i = 0; i < 10; ++i)
    differ += a.next() != b.next() ? 1 : 0;
  EXPECT_GT(differ, 5);
}

TEST(Backoff, StaysBoundedAfterManyAttempts) {
  Backoff backoff(milliseconds(1), std::chrono::seconds(30), 3);
  for (int i = 0; i < 10000; ++i) {
    const Duration got = backoff.next();
    ASSERT_GT(got, Duration(0));
    ASSERT_LE(got, std::chrono::seconds(36));
  }
}

TEST(Backoff, MaxBelowInitialIsInitial) {
  Backoff backoff(milliseconds(500), milliseconds(100), 4);
  EXPECT_EQ(backoff.base(), milliseconds(500));
  backoff.next();
  EXPECT_EQ(backoff.base(), milliseconds(500));
}

}  // namespace
}  // namespace conveyor
