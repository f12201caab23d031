// SignalCount: DESIGN.md §2 rule 5, as every process applies it.
#include "conveyor/common/signal_policy.hpp"

#include <gtest/gtest.h>

#include <csignal>

namespace conveyor {
namespace {

TEST(SignalCount, TheFirstDrainsEveryLaterOneStopsNow) {
  SignalCount signals;
  EXPECT_FALSE(signals.draining());
  EXPECT_EQ(signals.on_signal(), SignalAction::drain);
  EXPECT_TRUE(signals.draining());
  EXPECT_EQ(signals.on_signal(), SignalAction::stop_now);
  EXPECT_EQ(signals.on_signal(), SignalAction::stop_now);
}

TEST(SignalCount, SignalsHaveTheirNames) {
  EXPECT_STREQ(signal_name(SIGTERM), "SIGTERM");
  EXPECT_STREQ(signal_name(SIGINT), "SIGINT");
  EXPECT_STREQ(signal_name(SIGHUP), "SIGHUP");
}

}  // namespace
}  // namespace conveyor
