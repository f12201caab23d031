// broker::Core's read-only views (status command, metrics): counts match what happened.
#include <gtest/gtest.h>

#include "conveyor/broker/admin.hpp"
#include "conveyor/broker/metrics.hpp"
#include "unit/broker_driver.hpp"

namespace conveyor::broker::testing {
namespace {

TEST(TaskTimeHistogram, CountsEachSampleInTheFirstBucketThatHoldsIt) {
  TaskTimeHistogram h;
  h.observe(milliseconds(3));        // <= 0.005
  h.observe(milliseconds(5));        // == 0.005: bounds are inclusive, as Prometheus' le
  h.observe(milliseconds(700));      // <= 1
  h.observe(std::chrono::hours(1));  // above every bound
  h.observe(-milliseconds(1));       // a clock step back counts as zero
  EXPECT_EQ(h.count, 5u);
  EXPECT_EQ(h.counts[0], 3u);
  EXPECT_EQ(h.counts[7], 1u);  // bounds[7] == 1 s
  EXPECT_EQ(h.counts.back(), 1u);
  EXPECT_NEAR(h.sum_seconds, 0.003 + 0.005 + 0.7 + 3600, 1e-9);
}

TEST(BrokerCoreViews, TaskTimeIsFromReceiptToFinalResult) {
  BrokerDriver b;
  b.connect_producer("p1");
  b.connect_consumer("c1", 4);
  b.send_tasks("p1", {0, 1});
  b.flush();
  auto tasks = b.take_tasks("c1");
  ASSERT_EQ(tasks.size(), 2u);
  b.advance(milliseconds(300));
  b.complete("c1", tasks);
  b.flush();
  const auto& h = b.core().task_times();
  EXPECT_EQ(h.count, 2u);
  EXPECT_NEAR(h.sum_seconds, 0.6, 1e-9);
  EXPECT_EQ(h.counts[6], 2u);  // (0.25, 0.5]
  EXPECT_EQ(b.core().completed(), 2u);
}

TEST(BrokerCoreViews, ConsumerAndProducerViewsFollowTheRun) {
  BrokerDriver b;
  b.connect_producer("p1");
  b.connect_consumer("c1", 4);
  b.send_tasks("p1", {0, 1, 2});
  b.flush();
  auto tasks = b.take_tasks("c1");
  ASSERT_EQ(tasks.size(), 3u);
  b.complete("c1", {tasks[0]});
  b.flush();
  b.advance(std::chrono::seconds(2));
  auto consumers = b.core().consumer_views(b.now());
  ASSERT_EQ(consumers.size(), 1u);
  EXPECT_EQ(consumers[0].id, "c1");
  EXPECT_EQ(consumers[0].in_flight, 2u);
  EXPECT_EQ(consumers[0].capacity, 4u);
  EXPECT_EQ(consumers[0].completed, 1u);
  EXPECT_EQ(consumers[0].connected_for, std::chrono::seconds(2));
  auto producers = b.core().producer_views();
  ASSERT_EQ(producers.size(), 1u);
  EXPECT_TRUE(producers[0].connected);
  EXPECT_EQ(producers[0].sent, 3u);
  EXPECT_EQ(producers[0].received, 1u);
  EXPECT_EQ(producers[0].results_pending, 1u);  // not acknowledged yet
  b.to_backend(route_of("c1"), goodbye());
  b.flush();
  EXPECT_TRUE(b.core().consumer_views(b.now()).empty());
}

TEST(BrokerCoreViews, StatusReplyAndMetricsAgreeWithTheCore) {
  BrokerDriver b;
  b.connect_producer("p1");
  b.connect_consumer("c1", 4);
  b.send_tasks("p1", {0, 1});
  b.flush();
  b.complete("c1", b.take_tasks("c1"));
  b.flush();
  const auto reply = status_reply(b.core(), b.now(), kStart);
  EXPECT_EQ(reply.totals().tasks(), 2u);
  EXPECT_EQ(reply.totals().ok(), 2u);
  ASSERT_EQ(reply.consumers_size(), 1);
  EXPECT_EQ(reply.consumers(0).completed(), 2u);
  ASSERT_EQ(reply.producers_size(), 1);
  EXPECT_EQ(reply.producers(0).received(), 2u);
  const auto set = broker_metrics(b.core(), b.now());
  std::map<std::string, double> unlabelled;
  for (const auto& family : set.families()) {
    if (family.samples.size() == 1 && family.samples[0].labels.empty())
      unlabelled[family.name] = family.samples[0].value;
  }
  EXPECT_EQ(unlabelled.at("conveyor_tasks_completed_total"), 2);
  EXPECT_EQ(unlabelled.at("conveyor_queue_depth"), 0);
  EXPECT_EQ(unlabelled.at("conveyor_consumers_connected"), 1);
}

// The family `name` in `set`, or null.
const metrics::Family* family_of(const metrics::MetricSet& set, const std::string& name) {
  for (const auto& family : set.families())
    if (family.name == name) return &family;
  return nullptr;
}

// The value of the sample of `family` labelled `label`=`value`, or -1 when there is none.
double labelled(const metrics::Family& family, const std::string& label, const std::string& value) {
  for (const auto& sample : family.samples) {
    if (sample.labels == metrics::Labels{{label, value}}) return sample.value;
  }
  return -1;
}

TEST(BrokerMetrics, CurveHandshakesAndKeysAreExportedWithCurveOnly) {
  BrokerDriver b;
  EXPECT_EQ(family_of(broker_metrics(b.core(), b.now()), "conveyor_curve_keys"), nullptr);
  EXPECT_EQ(family_of(broker_metrics(b.core(), b.now()), "conveyor_curve_handshakes_total"),
            nullptr);
  EXPECT_EQ(family_of(broker_metrics(b.core(), b.now()), "conveyor_curve_key_reloads_total"),
            nullptr);

  const auto set = broker_metrics(b.core(), b.now(), CurveCounts{5, 3, 2, 1, 4, 6});
  const auto* handshakes = family_of(set, "conveyor_curve_handshakes_total");
  ASSERT_NE(handshakes, nullptr);
  EXPECT_EQ(handshakes->kind, metrics::Kind::counter);
  EXPECT_EQ(labelled(*handshakes, "result", "admitted"), 5);
  EXPECT_EQ(labelled(*handshakes, "result", "refused"), 3);
  const auto* keys = family_of(set, "conveyor_curve_keys");
  ASSERT_NE(keys, nullptr);
  EXPECT_EQ(keys->kind, metrics::Kind::gauge);
  EXPECT_EQ(labelled(*keys, "list", "producer"), 2);
  EXPECT_EQ(labelled(*keys, "list", "consumer"), 1);
  const auto* reloads = family_of(set, "conveyor_curve_key_reloads_total");
  ASSERT_NE(reloads, nullptr);
  EXPECT_EQ(reloads->kind, metrics::Kind::counter);
  EXPECT_EQ(labelled(*reloads, "result", "loaded"), 4);
  EXPECT_EQ(labelled(*reloads, "result", "failed"), 6);
}

TEST(BrokerAdmin, ARequestThatIsNotAStatusRequestGetsAnError) {
  BrokerDriver b;
  wire::StatusReply reply;
  ASSERT_TRUE(
      reply.ParseFromString(answer_admin_request("\xff\xff\xff", b.core(), b.now(), kStart)));
  EXPECT_FALSE(reply.error().empty());
  wire::StatusRequest wrong_version;
  wrong_version.set_version(kProtocolVersion + 1);
  ASSERT_TRUE(reply.ParseFromString(
      answer_admin_request(wrong_version.SerializeAsString(), b.core(), b.now(), kStart)));
  EXPECT_NE(reply.error().find("version"), std::string::npos);
}

}  // namespace
}  // namespace conveyor::broker::testing
