// The consumer's and the producer's own metrics (--metrics-port): names, kinds and values taken
// from a session driven by hand. The HTTP side is the broker's exporter, tested end to end in
// tests/integration/observability_test.cpp.
#include <gtest/gtest.h>

#include <optional>
#include <string>

#include "conveyor/consumer/metrics.hpp"
#include "conveyor/producer/metrics.hpp"
#include "unit/producer_session_fixture.hpp"
#include "unit/session_envelopes.hpp"

namespace conveyor {
namespace {

using namespace conveyor::testing;

// The value of family `name`'s sample with exactly `labels`; nothing when absent.
std::optional<double> value_of(const metrics::MetricSet& set, const std::string& name,
                               const metrics::Labels& labels = {}) {
  for (const auto& family : set.families()) {
    if (family.name != name) continue;
    for (const auto& sample : family.samples) {
      if (sample.labels == labels) return sample.value;
    }
  }
  return std::nullopt;
}

std::optional<metrics::Kind> kind_of(const metrics::MetricSet& set, const std::string& name) {
  for (const auto& family : set.families()) {
    if (family.name == name) return family.kind;
  }
  return std::nullopt;
}

consumer::SessionConfig consumer_config() {
  consumer::SessionConfig config;
  config.id = "c1";
  config.capacity = 6;
  config.broker = "tcp://broker:5556";
  return config;
}

// A consumer session welcomed, holding tasks 0..4 of p1: two done (one failed), one running.
consumer::Session busy_consumer() {
  consumer::Session session{consumer_config(), kStart};
  session.on_connect(kStart);
  auto hello = welcome();
  session.on_envelope(hello, kStart);
  auto batch = tasks("p1", {0, 1, 2, 3, 4});
  session.on_envelope(batch, kStart);
  consumer::Work done = session.take_work(2);
  std::vector<consumer::Report> results(2);
  for (std::size_t i = 0; i < 2; ++i) {
    results[i].producer = "p1";
    results[i].seq = done.tasks[i].seq();
    results[i].status = i == 0 ? wire::OK : wire::FAILED;
  }
  session.on_done(done.id, results);
  session.take_work(1);  // running, not finished
  return session;
}

TEST(ConsumerMetrics, CountTasksAndResultsByStatus) {
  const consumer::Session session = busy_consumer();
  const auto set = consumer::consumer_metrics({"c1", 4, 0.002}, session);
  EXPECT_EQ(value_of(set, "conveyor_consumer_tasks_received_total"), 5);
  EXPECT_EQ(value_of(set, "conveyor_consumer_results_total", {{"status", "ok"}}), 1);
  EXPECT_EQ(value_of(set, "conveyor_consumer_results_total", {{"status", "failed"}}), 1);
  EXPECT_EQ(value_of(set, "conveyor_consumer_tasks_handed_back_total"), 0);
  EXPECT_EQ(kind_of(set, "conveyor_consumer_tasks_received_total"), metrics::Kind::counter);
  EXPECT_EQ(kind_of(set, "conveyor_consumer_results_total"), metrics::Kind::counter);
}

TEST(ConsumerMetrics, GaugesShowWhatItHoldsNow) {
  const consumer::Session session = busy_consumer();
  const auto set = consumer::consumer_metrics({"c1", 4, 0.002}, session);
  EXPECT_EQ(value_of(set, "conveyor_consumer_tasks_running"), 1);
  EXPECT_EQ(value_of(set, "conveyor_consumer_tasks_prefetched"), 2);
  EXPECT_EQ(value_of(set, "conveyor_consumer_credit"), 6);
  EXPECT_EQ(value_of(set, "conveyor_consumer_workers"), 4);
  EXPECT_EQ(value_of(set, "conveyor_consumer_handler_seconds"), 0.002);
  EXPECT_EQ(value_of(set, "conveyor_consumer_connected"), 1);
  EXPECT_EQ(value_of(set, "conveyor_consumer_stopping"), 0);
  EXPECT_EQ(value_of(set, "conveyor_consumer_info", {{"id", "c1"}}), 1);
  EXPECT_EQ(kind_of(set, "conveyor_consumer_tasks_running"), metrics::Kind::gauge);
}

TEST(ConsumerMetrics, APillOrAStopShowsAsStoppingAndHandingBackCounts) {
  consumer::Session session = busy_consumer();
  session.stop(kStart);
  const auto set = consumer::consumer_metrics({"c1", 4, 0}, session);
  EXPECT_EQ(value_of(set, "conveyor_consumer_stopping"), 1);
  EXPECT_EQ(value_of(set, "conveyor_consumer_tasks_handed_back_total"), 2);
  EXPECT_EQ(value_of(set, "conveyor_consumer_tasks_prefetched"), 0);
}

TEST(ConsumerMetrics, NotConnectedBeforeTheWelcome) {
  consumer::Session session{consumer_config(), kStart};
  session.on_connect(kStart);
  const auto set = consumer::consumer_metrics({"c1", 1, 0}, session);
  EXPECT_EQ(value_of(set, "conveyor_consumer_connected"), 0);
  EXPECT_EQ(value_of(set, "conveyor_consumer_tasks_received_total"), 0);
}

using ProducerMetrics = producer::ProducerSession;

TEST_F(ProducerMetrics, CountReadTasksAndFinalResultsByStatus) {
  connect();
  add(5);
  feed(credit(5));
  flush();
  feed(results({{0, wire::OK}, {1, wire::FAILED}, {2, wire::DEAD}, {3, wire::OK}}));
  feed(results({{0, wire::OK}}));  // a duplicate
  const auto set = producer::producer_metrics(session, 100);
  EXPECT_EQ(value_of(set, "conveyor_producer_tasks_read_total"), 5);
  EXPECT_EQ(value_of(set, "conveyor_producer_results_total", {{"status", "ok"}}), 2);
  EXPECT_EQ(value_of(set, "conveyor_producer_results_total", {{"status", "failed"}}), 1);
  EXPECT_EQ(value_of(set, "conveyor_producer_results_total", {{"status", "dead"}}), 1);
  EXPECT_EQ(value_of(set, "conveyor_producer_duplicate_results_total"), 1);
  EXPECT_EQ(value_of(set, "conveyor_producer_tasks_unfinished"), 1);
  EXPECT_EQ(kind_of(set, "conveyor_producer_results_total"), metrics::Kind::counter);
}

TEST_F(ProducerMetrics, GaugesShowTheWindowTheSourceAndTheConnection) {
  auto set = producer::producer_metrics(session, 100);
  EXPECT_EQ(value_of(set, "conveyor_producer_connected"), 0);
  EXPECT_EQ(value_of(set, "conveyor_producer_source_ended"), 0);
  EXPECT_EQ(value_of(set, "conveyor_producer_window"), 100);
  EXPECT_EQ(value_of(set, "conveyor_producer_info", {{"id", "p1"}}), 1);
  connect();
  session.end_of_source();
  set = producer::producer_metrics(session, 100);
  EXPECT_EQ(value_of(set, "conveyor_producer_connected"), 1);
  EXPECT_EQ(value_of(set, "conveyor_producer_source_ended"), 1);
  EXPECT_EQ(kind_of(set, "conveyor_producer_tasks_unfinished"), metrics::Kind::gauge);
}

}  // namespace
}  // namespace conveyor
