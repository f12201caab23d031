// broker::Pipeline on its own: which queues are finished, stage by stage (DESIGN.md §7.4).
#include "conveyor/broker/pipeline.hpp"

#include <gtest/gtest.h>

#include <set>

namespace conveyor::broker {
namespace {

std::function<bool(std::uint32_t)> holding(std::set<std::uint32_t> queues) {
  return [queues](std::uint32_t q) { return queues.contains(q); };
}

// Every queue 0..n-1 has had a consumer say hello (and so declared where it emits).
void declare_all(Pipeline& pipeline, std::uint32_t n) {
  for (std::uint32_t q = 0; q < n; ++q)
    pipeline.declare(q);
}

TEST(BrokerPipeline, AQueueWithNoTasksAndNoOneFeedingItIsFinished) {
  Pipeline pipeline;
  declare_all(pipeline, 2);
  EXPECT_EQ(pipeline.finished(2, holding({1})), (std::vector<bool>{true, false}));
}

TEST(BrokerPipeline, Rule741AStageWaitsForEveryStageThatEmitsIntoIt) {
  Pipeline pipeline;
  pipeline.add_edge(0, 1);  // 0 -> 1 -> 2
  pipeline.add_edge(1, 2);
  declare_all(pipeline, 3);
  EXPECT_EQ(pipeline.finished(3, holding({0})), (std::vector<bool>{false, false, false}))
      << "tasks in the first stage may still reach the last";
  EXPECT_EQ(pipeline.finished(3, holding({1})), (std::vector<bool>{true, false, false}));
  EXPECT_EQ(pipeline.finished(3, holding({2})), (std::vector<bool>{true, true, false}));
  EXPECT_EQ(pipeline.finished(3, holding({})), (std::vector<bool>{true, true, true}));
}

TEST(BrokerPipeline, Rule741AFanInWaitsForEveryBranch) {
  Pipeline pipeline;
  pipeline.add_edge(0, 2);
  pipeline.add_edge(1, 2);
  declare_all(pipeline, 3);
  EXPECT_EQ(pipeline.finished(3, holding({1})), (std::vector<bool>{true, false, false}));
}

TEST(BrokerPipeline, Rule742ACycleFinishesOnlyWhenTheWholeCycleIsEmpty) {
  Pipeline pipeline;
  pipeline.add_edge(0, 0);  // a crawler
  declare_all(pipeline, 1);
  EXPECT_EQ(pipeline.finished(1, holding({0})), (std::vector<bool>{false}));
  EXPECT_EQ(pipeline.finished(1, holding({})), (std::vector<bool>{true}));
  Pipeline loop;  // 1 <-> 2, fed by 0, feeding 3
  loop.add_edge(0, 1);
  loop.add_edge(1, 2);
  loop.add_edge(2, 1);
  loop.add_edge(2, 3);
  declare_all(loop, 4);
  EXPECT_EQ(loop.finished(4, holding({2})), (std::vector<bool>{true, false, false, false}))
      << "a task in one queue of the cycle keeps the other open";
  EXPECT_EQ(loop.finished(4, holding({0})), (std::vector<bool>{false, false, false, false}));
  EXPECT_EQ(loop.finished(4, holding({3})), (std::vector<bool>{true, true, true, false}));
}

TEST(BrokerPipeline, Rule743AQueueWithTasksButNoConsumerYetKeepsEveryQueueOpen) {
  Pipeline pipeline;
  pipeline.declare(1);  // the second stage's consumers came first; the first stage's not yet
  EXPECT_EQ(pipeline.finished(2, holding({0})), (std::vector<bool>{false, false}))
      << "queue 0's consumers may emit into 1";
  pipeline.declare(0);  // they came, emitting nowhere
  EXPECT_EQ(pipeline.finished(2, holding({0})), (std::vector<bool>{false, true}));
  pipeline.clear();
  EXPECT_EQ(pipeline.finished(2, holding({})), (std::vector<bool>{true, true}))
      << "empty queues need no consumer to be finished";
}

TEST(BrokerPipeline, Rule743AnEmptyStageWithoutConsumersYetKeepsTheStagesAfterItOpen) {
  Pipeline pipeline;  // 0 -> 1 -> 2, but 1's consumers (who say 1 -> 2) have not come yet
  pipeline.add_edge(0, 1);
  pipeline.declare(0);
  pipeline.declare(2);
  EXPECT_EQ(pipeline.finished(3, holding({0})), (std::vector<bool>{false, false, false}))
      << "0 may emit into 1, and 1 anywhere";
  EXPECT_EQ(pipeline.finished(3, holding({})), (std::vector<bool>{true, true, true}));
  pipeline.declare(1);
  EXPECT_EQ(pipeline.finished(3, holding({0})), (std::vector<bool>{false, false, true}))
      << "1 emits nowhere, as its consumers said";
}

TEST(BrokerPipeline, ReachesFollowsEdges) {
  Pipeline pipeline;
  pipeline.add_edge(0, 1);
  pipeline.add_edge(1, 2);
  EXPECT_TRUE(pipeline.reaches(0, 2));
  EXPECT_FALSE(pipeline.reaches(2, 0));
  EXPECT_TRUE(pipeline.reaches(1, 1)) << "a queue reaches itself";
  EXPECT_EQ(pipeline.targets(0), (std::vector<std::uint32_t>{1}));
}

}  // namespace
}  // namespace conveyor::broker
