// SeqTable: values by seq in a ring and a reused pool, with a map for far-away seqs.
#include "conveyor/common/seq_table.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <map>
#include <random>
#include <string>
#include <vector>

namespace conveyor {
namespace {

struct Value {
  std::string text;
  int resets = 0;  // how often this pool slot was reset: reuse is visible
  void reset() {
    text.clear();
    ++resets;
  }
};

constexpr std::uint64_t kEmitted = std::uint64_t{1} << 63;

std::vector<std::uint64_t> seqs_of(SeqTable<Value>& table) {
  std::vector<std::uint64_t> seqs;
  table.for_each([&](std::uint64_t seq, Value&) { seqs.push_back(seq); });
  return seqs;
}

TEST(SeqTable, FindsWhatWasAddedAndNothingElse) {
  SeqTable<Value> table;
  bool added = false;
  table.get_or_add(5, &added).text = "five";
  EXPECT_TRUE(added);
  table.get_or_add(6).text = "six";
  ASSERT_NE(table.find(5), nullptr);
  EXPECT_EQ(table.find(5)->text, "five");
  EXPECT_EQ(table.find(6)->text, "six");
  EXPECT_EQ(table.find(4), nullptr);
  EXPECT_EQ(table.find(7), nullptr);
  EXPECT_EQ(table.find(5 + 64), nullptr);  // the same ring cell as 5, another seq
  EXPECT_EQ(&table.get_or_add(5, &added), table.find(5));
  EXPECT_FALSE(added);
  EXPECT_EQ(table.size(), 2u);
}

TEST(SeqTable, EraseRemovesOnlyThatSeqAndSaysWhetherItWasThere) {
  SeqTable<Value> table;
  for (std::uint64_t seq = 0; seq < 10; ++seq)
    table.get_or_add(seq).text = std::to_string(seq);
  EXPECT_TRUE(table.erase(3));
  EXPECT_FALSE(table.erase(3));
  EXPECT_FALSE(table.erase(100));
  EXPECT_EQ(table.find(3), nullptr);
  EXPECT_EQ(table.find(4)->text, "4");
  EXPECT_EQ(table.size(), 9u);
  EXPECT_TRUE(table.erase(0));  // the oldest: the ring's base moves past 1, 2
  EXPECT_EQ(table.find(1)->text, "1");
  EXPECT_EQ(seqs_of(table), (std::vector<std::uint64_t>{1, 2, 4, 5, 6, 7, 8, 9}));
}

TEST(SeqTable, ValuesKeepTheirAddressWhileTheRingGrows) {
  SeqTable<Value> table;
  Value* first = &table.get_or_add(0);
  first->text = "zero";
  for (std::uint64_t seq = 1; seq < 5000; ++seq)
    table.get_or_add(seq);
  EXPECT_EQ(table.find(0), first);
  EXPECT_EQ(first->text, "zero");
  EXPECT_EQ(table.size(), 5000u);
}

TEST(SeqTable, AFreedSlotIsResetAndReused) {
  SeqTable<Value> table;
  Value* value = &table.get_or_add(0);
  value->text = "old";
  table.get_or_add(1);
  table.erase(0);
  Value& next = table.get_or_add(2);
  EXPECT_EQ(&next, value);
  EXPECT_EQ(next.text, "");
  EXPECT_EQ(next.resets, 1);
}

// erase_if(): the value is shown before it goes and stays when it is not wanted, in the ring and
// in the map alike (10 is older than the ring's base: a straggler).
TEST(SeqTable, EraseIfRemovesOnlyAWantedValue) {
  SeqTable<Value> table;
  table.get_or_add(1000).text = "keep";
  table.get_or_add(1001).text = "drop";
  table.get_or_add(10).text = "keep";
  table.get_or_add(11).text = "drop";
  ASSERT_GE(table.stragglers(), 2u);
  std::vector<std::string> shown;
  const auto droppable = [&](const Value& value) {
    shown.push_back(value.text);
    return value.text == "drop";
  };
  for (const std::uint64_t seq : {1000, 1001, 10, 11, 12})
    EXPECT_EQ(table.erase_if(seq, droppable), seq == 1001 || seq == 11) << seq;
  EXPECT_EQ(shown, (std::vector<std::string>{"keep", "drop", "keep", "drop"}));
  EXPECT_EQ(seqs_of(table), (std::vector<std::uint64_t>{1000, 10}));
  EXPECT_EQ(table.size(), 2u);
}

TEST(SeqTable, SeqsFarAwayOrOlderThanTheOldestAreStillFound) {
  SeqTable<Value> table;
  table.get_or_add(1000).text = "base";
  table.get_or_add(10).text = "older";
  table.get_or_add(1000 + SeqTable<Value>::kMaxSpan + 5).text = "far";
  table.get_or_add(kEmitted + 3).text = "emitted";
  EXPECT_EQ(table.find(10)->text, "older");
  EXPECT_EQ(table.find(1000 + SeqTable<Value>::kMaxSpan + 5)->text, "far");
  EXPECT_EQ(table.find(kEmitted + 3)->text, "emitted");
  EXPECT_EQ(table.size(), 4u);
  // The ring moves on past 10: 10 is still found, and added again it is the same value.
  table.erase(1000);
  bool added = true;
  EXPECT_EQ(table.get_or_add(10, &added).text, "older");
  EXPECT_FALSE(added);
  EXPECT_TRUE(table.erase(10));
  EXPECT_EQ(table.find(10), nullptr);
  // 1000 (the only other value then) went to the map to make room for "far" in the ring.
  EXPECT_EQ(seqs_of(table),
            (std::vector<std::uint64_t>{1000 + SeqTable<Value>::kMaxSpan + 5, kEmitted + 3}));
}

// One task stuck at the head while a million others come and go ten at a time: the stuck one
// goes to the map, the rest stay in the ring (before, every seq past kMaxSpan went to the map).
TEST(SeqTable, AStragglerMovesToTheMapWhileTheRestFlowThroughTheRing) {
  SeqTable<Value> table;
  table.get_or_add(0).text = "stuck";
  std::size_t most_stragglers = 0;
  for (std::uint64_t seq = 1; seq <= 1'000'000; ++seq) {
    table.get_or_add(seq).text = std::to_string(seq);
    if (seq > 10) {
      ASSERT_TRUE(table.erase(seq - 10)) << seq;
    }
    most_stragglers = std::max(most_stragglers, table.stragglers());
  }
  EXPECT_EQ(most_stragglers, 1u);
  EXPECT_EQ(table.size(), 11u);
  EXPECT_EQ(table.find(0)->text, "stuck");
  EXPECT_EQ(table.find(999'995)->text, "999995");
  EXPECT_EQ(table.find(999'990), nullptr);
  EXPECT_TRUE(table.erase(0));
  EXPECT_EQ(table.stragglers(), 0u);
  EXPECT_EQ(seqs_of(table).size(), 10u);
}

// A window wider than kMaxSpan, every task of it unfinished: a dense ring grows to hold them all.
TEST(SeqTable, ADenseRunWiderThanTheSpanStaysInTheRing) {
  SeqTable<Value> table;
  for (std::uint64_t seq = 0; seq < 200'000; ++seq)
    table.get_or_add(seq);
  EXPECT_EQ(table.stragglers(), 0u);
  EXPECT_EQ(table.size(), 200'000u);
  for (std::uint64_t seq = 0; seq < 200'000; seq += 7)
    ASSERT_NE(table.find(seq), nullptr) << seq;
}

// Sparse values far apart: the ring moves on, the old ones are kept in the map and still found.
TEST(SeqTable, ValuesMovedOutOfASparseRingAreStillFoundAndErased) {
  SeqTable<Value> table;
  const std::uint64_t far = 4 * SeqTable<Value>::kMaxSpan;
  for (std::uint64_t seq : {std::uint64_t{5}, std::uint64_t{6}, far, far + 1, 2 * far})
    table.get_or_add(seq).text = std::to_string(seq);
  EXPECT_GE(table.stragglers(), 2u);
  for (std::uint64_t seq : {std::uint64_t{5}, std::uint64_t{6}, far, far + 1, 2 * far})
    EXPECT_EQ(table.find(seq)->text, std::to_string(seq));
  bool added = true;
  EXPECT_EQ(table.get_or_add(6, &added).text, "6");
  EXPECT_FALSE(added);
  EXPECT_TRUE(table.erase(5));
  EXPECT_TRUE(table.erase(far));
  EXPECT_FALSE(table.erase(far));
  EXPECT_EQ(seqs_of(table).size(), 3u);
  EXPECT_EQ(table.size(), 3u);
}

TEST(SeqTable, AnEmptiedTableStartsItsRingAnywhere) {
  SeqTable<Value> table;
  table.get_or_add(7);
  table.erase(7);
  table.get_or_add(7 + 10 * SeqTable<Value>::kMaxSpan).text = "later";
  table.get_or_add(8 + 10 * SeqTable<Value>::kMaxSpan);
  EXPECT_EQ(table.find(7 + 10 * SeqTable<Value>::kMaxSpan)->text, "later");
  EXPECT_FALSE(table.empty());
  EXPECT_EQ(table.size(), 2u);
}

TEST(SeqTable, ClearForgetsEverything) {
  SeqTable<Value> table;
  for (std::uint64_t seq = 0; seq < 3000; ++seq)
    table.get_or_add(seq);
  table.clear();
  EXPECT_TRUE(table.empty());
  EXPECT_EQ(table.find(5), nullptr);
  EXPECT_TRUE(seqs_of(table).empty());
}

// Random adds and erases, in the orders a broker sees (mostly rising, some stragglers, emitted
// seqs, far jumps), checked against a std::map after every step.
TEST(SeqTable, BehavesAsAMapUnderRandomUse) {
  for (unsigned seed = 1; seed <= 20; ++seed) {
    std::mt19937_64 random(seed);
    SeqTable<Value> table;
    std::map<std::uint64_t, std::string> model;
    std::uint64_t next = 0;
    for (int step = 0; step < 20000; ++step) {
      const auto roll = random() % 100;
      std::uint64_t seq;
      if (roll < 45) {
        seq = next++;
      } else if (roll < 50) {
        seq = kEmitted + random() % 500;
      } else if (roll < 52) {
        seq = next + SeqTable<Value>::kMaxSpan + random() % 1000;
      } else {
        seq = next == 0 ? 0 : next - 1 - random() % std::min<std::uint64_t>(next, 3000);
      }
      if (roll < 75) {
        bool added = false;
        table.get_or_add(seq, &added).text = std::to_string(seq);
        ASSERT_EQ(added, model.count(seq) == 0) << "seed " << seed << " seq " << seq;
        model[seq] = std::to_string(seq);
      } else {
        ASSERT_EQ(table.erase(seq), model.erase(seq) == 1) << "seed " << seed << " seq " << seq;
      }
      ASSERT_EQ(table.size(), model.size());
    }
    std::map<std::uint64_t, std::string> seen;
    table.for_each([&](std::uint64_t seq, Value& value) {
      EXPECT_TRUE(seen.emplace(seq, value.text).second) << "seq " << seq << " twice";
    });
    EXPECT_EQ(seen, model) << "seed " << seed;
  }
}

}  // namespace
}  // namespace conveyor

namespace conveyor {
namespace {

// A pooled value's string keeps its buffer up to kKeptBufferBytes, so that 1 KiB tasks do not
// allocate a payload each; a bigger one is freed, so that a pool cannot hoard.
TEST(SeqTableBuffers, AOneKibBufferIsKeptForTheNextValue) {
  std::string text(1024, 'x');
  const char* buffer = text.data();
  empty_keeping_small_buffer(text);
  EXPECT_TRUE(text.empty());
  EXPECT_GE(text.capacity(), 1024u) << "kept, not freed";
  text.assign(1024, 'y');
  EXPECT_EQ(text.data(), buffer) << "refilled in place, no allocation";
}

TEST(SeqTableBuffers, ABufferOverTheCapIsFreed) {
  std::string text(kKeptBufferBytes + 1, 'x');
  EXPECT_TRUE(drop_large_buffer(text));
  EXPECT_LE(text.capacity(), kKeptBufferBytes);
  std::string kept(kKeptBufferBytes, 'x');
  EXPECT_FALSE(drop_large_buffer(kept));
  EXPECT_EQ(kept.size(), kKeptBufferBytes) << "a kept buffer is left as it is";
}

}  // namespace
}  // namespace conveyor
