// broker::CompletionHistory: the status page's per-second chart, sampled on the broker's tick with
// the clock injected.
#include "conveyor/broker/history.hpp"

#include <gtest/gtest.h>

namespace conveyor::broker {
namespace {

using std::chrono::seconds;

const TimePoint kStart = TimePoint{} + std::chrono::hours(1);

TEST(CompletionHistory, OneSampleIsNoRateYet) {
  CompletionHistory history;
  EXPECT_TRUE(history.per_second().empty());
  history.on_tick(kStart, 100);
  EXPECT_TRUE(history.per_second().empty());
  EXPECT_EQ(history.capacity(), CompletionHistory::kDefaultRates);
}

TEST(CompletionHistory, RatesAreCompletionsPerSecondBetweenSamples) {
  CompletionHistory history;
  // Ticks every 250 ms; 10 tasks complete between two ticks: 40 per second.
  std::uint64_t completed = 0;
  for (int tick = 0; tick <= 12; ++tick) {
    history.on_tick(kStart + milliseconds(250) * tick, completed);
    completed += 10;
  }
  // Samples at 0, 1, 2 and 3 s: three rates.
  const auto rates = history.per_second();
  ASSERT_EQ(rates.size(), 3u);
  for (double rate : rates)
    EXPECT_DOUBLE_EQ(rate, 40.0);
}

TEST(CompletionHistory, TicksBeforeTheNextSampleIsDueChangeNothing) {
  CompletionHistory history;
  history.on_tick(kStart, 0);
  history.on_tick(kStart + milliseconds(999), 500);  // not due: the 500 is not seen yet
  EXPECT_TRUE(history.per_second().empty());
  history.on_tick(kStart + seconds(1), 700);
  ASSERT_EQ(history.per_second().size(), 1u);
  EXPECT_DOUBLE_EQ(history.per_second()[0], 700.0);
}

TEST(CompletionHistory, LateTicksDoNotMakeTheSamplesDrift) {
  CompletionHistory history;
  history.on_tick(kStart, 0);
  // Each tick 100 ms after its sample was due: still one sample per second, and each rate
  // divides by the time that really passed (1.1 s for the first, 1 s after).
  for (int s = 1; s <= 4; ++s)
    history.on_tick(kStart + seconds(s) + milliseconds(100), 100u * s);
  const auto rates = history.per_second();
  ASSERT_EQ(rates.size(), 4u);
  EXPECT_NEAR(rates[0], 100 / 1.1, 1e-9);
  for (std::size_t i = 1; i < rates.size(); ++i)
    EXPECT_NEAR(rates[i], 100.0, 1e-9);
}

TEST(CompletionHistory, AStalledLoopGivesOneSlowRateNotACatchUp) {
  CompletionHistory history;
  history.on_tick(kStart, 0);
  history.on_tick(kStart + seconds(5), 1000);                      // five seconds without a tick
  history.on_tick(kStart + seconds(5) + milliseconds(500), 1100);  // due again at 6 s only
  history.on_tick(kStart + seconds(6), 1200);
  const auto rates = history.per_second();
  ASSERT_EQ(rates.size(), 2u);
  EXPECT_DOUBLE_EQ(rates[0], 200.0);  // 1000 over 5 s
  EXPECT_DOUBLE_EQ(rates[1], 200.0);  // 200 over 1 s
}

TEST(CompletionHistory, AFullRingKeepsTheNewestSamples) {
  CompletionHistory history(3);
  // Second s completes s tasks: the rates are 1, 2, 3, ..., 10.
  std::uint64_t completed = 0;
  history.on_tick(kStart, completed);
  for (int s = 1; s <= 10; ++s) {
    completed += static_cast<std::uint64_t>(s);
    history.on_tick(kStart + seconds(s), completed);
  }
  EXPECT_EQ(history.per_second(), (std::vector<double>{8, 9, 10}));
  EXPECT_EQ(history.capacity(), 3u);
}

TEST(CompletionHistory, ATotalThatGoesDownIsNoNegativeRate) {
  CompletionHistory history;
  history.on_tick(kStart, 50);
  history.on_tick(kStart + seconds(1), 20);
  EXPECT_EQ(history.per_second(), (std::vector<double>{0}));
}

TEST(CompletionHistory, TheIntervalIsTheCallersChoice) {
  CompletionHistory history(10, milliseconds(500));
  history.on_tick(kStart, 0);
  history.on_tick(kStart + milliseconds(500), 10);
  EXPECT_EQ(history.per_second(), (std::vector<double>{20}));
  EXPECT_EQ(history.interval(), milliseconds(500));
}

}  // namespace
}  // namespace conveyor::broker
