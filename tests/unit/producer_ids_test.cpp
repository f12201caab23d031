// ProducerIds: one held copy per producer id, whose views stay put while others are added.
#include "conveyor/consumer/producer_ids.hpp"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace conveyor::consumer {
namespace {

TEST(ProducerIds, AnIdSeenAgainIsTheSameCopy) {
  ProducerIds ids;
  const std::string frame_a = "producer-host-1234";
  const std::string frame_b = "producer-host-1234";  // the same id, from another frame
  const std::string_view a = ids.intern(frame_a);
  const std::string_view b = ids.intern(frame_b);
  EXPECT_EQ(a, "producer-host-1234");
  EXPECT_EQ(a.data(), b.data());
  EXPECT_NE(a.data(), frame_a.data()) << "a copy, not a view of the frame";
  EXPECT_EQ(ids.size(), 1u);
}

TEST(ProducerIds, ViewsStayValidWhileManyOthersAreAdded) {
  ProducerIds ids;
  const std::string_view first = ids.intern("producer-first-host-1");
  const char* where = first.data();
  for (int i = 0; i < 1000; ++i)
    ids.intern("producer-" + std::to_string(i) + "-with-a-long-name");
  EXPECT_EQ(ids.size(), 1001u);
  EXPECT_EQ(first.data(), where);
  EXPECT_EQ(first, "producer-first-host-1");
  EXPECT_EQ(ids.intern("producer-first-host-1").data(), where);
}

TEST(ProducerIds, AlternatingIdsEachKeepTheirOwnCopy) {
  ProducerIds ids;
  std::vector<std::string_view> seen;
  for (int i = 0; i < 6; ++i)
    seen.push_back(ids.intern(i % 2 == 0 ? "even-producer-id-long" : "odd-producer-id-long"));
  EXPECT_EQ(ids.size(), 2u);
  EXPECT_EQ(seen[0].data(), seen[4].data());
  EXPECT_EQ(seen[1].data(), seen[5].data());
  EXPECT_EQ(seen[1], "odd-producer-id-long");
}

TEST(ProducerIds, ClearForgetsEveryId) {
  ProducerIds ids;
  ids.intern("producer-a-long-id-000");
  ids.clear();
  EXPECT_EQ(ids.size(), 0u);
  EXPECT_EQ(ids.intern("producer-a-long-id-000"), "producer-a-long-id-000");
  EXPECT_EQ(ids.size(), 1u) << "the last id seen is not remembered past clear()";
}

// A consumer never idle while producers come and go: past kPruneAbove ids the table keeps only
// those still viewed, their views intact, and forgets the rest.
TEST(ProducerIds, PruningKeepsTheLiveIdsWhereTheyAreAndForgetsTheOthers) {
  ProducerIds ids;
  const std::string_view live = ids.intern("producer-still-running-1");
  for (std::size_t i = 0; ids.size() <= ProducerIds::kPruneAbove; ++i)
    ids.intern("producer-gone-" + std::to_string(i));
  ASSERT_TRUE(ids.wants_pruning());
  const char* where = live.data();
  ids.prune([&](auto&& keep) { keep(live); });
  EXPECT_EQ(ids.size(), 1u);
  EXPECT_FALSE(ids.wants_pruning());
  EXPECT_EQ(live.data(), where);
  EXPECT_EQ(live, "producer-still-running-1");
  EXPECT_EQ(ids.intern("producer-still-running-1").data(), where);
  EXPECT_EQ(ids.intern("producer-gone-0"), "producer-gone-0") << "a forgotten id comes back anew";
  EXPECT_EQ(ids.size(), 2u);
}

TEST(ProducerIds, AfterPruningTheNextPruneWaitsForTwiceWhatWasKept) {
  ProducerIds ids;
  std::vector<std::string_view> kept;
  for (std::size_t i = 0; i <= ProducerIds::kPruneAbove; ++i)
    kept.push_back(ids.intern("producer-live-" + std::to_string(i)));
  ids.prune([&](auto&& keep) {
    for (const auto id : kept)
      keep(id);
  });
  EXPECT_EQ(ids.size(), ProducerIds::kPruneAbove + 1) << "every id was live";
  EXPECT_FALSE(ids.wants_pruning()) << "not scanned again at the next id";
}

}  // namespace
}  // namespace conveyor::consumer
