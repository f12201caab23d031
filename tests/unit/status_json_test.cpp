// The views of a StatusReply: its JSON (conveyor-ctl status --json, the page's /status.json) and
// conveyor-ctl's table, both saying which broker answered.
#include <gtest/gtest.h>

#include "conveyor/ctl/status.hpp"
#include "conveyor/status/json.hpp"

namespace conveyor::ctl {
namespace {

wire::StatusReply a_status() {
  wire::StatusReply reply;
  reply.set_queue_depth(3);
  reply.set_queue_capacity(10);
  reply.mutable_totals()->set_ok(5);
  reply.mutable_totals()->set_failed(1);
  auto* broker = reply.mutable_broker();
  broker->set_pid(4242);
  broker->set_admin("tcp://127.0.0.1:4003");
  broker->set_frontend("tcp://127.0.0.1:4001");
  broker->set_backend("tcp://127.0.0.1:4002");
  auto* c = reply.add_consumers();
  c->set_id("c1");
  c->set_completed(10);
  c->set_connected_seconds(4);
  return reply;
}

TEST(StatusViews, JsonSaysWhichBrokerAnswered) {
  const auto json = status::status_json(a_status());
  EXPECT_EQ(json["broker"]["pid"], 4242);
  EXPECT_EQ(json["broker"]["admin"], "tcp://127.0.0.1:4003");
  EXPECT_EQ(json["broker"]["frontend"], "tcp://127.0.0.1:4001");
  EXPECT_EQ(json["broker"]["backend"], "tcp://127.0.0.1:4002");
  EXPECT_EQ(json["totals"]["completed"], 6);
  EXPECT_EQ(json["queue_depth"], 3);
  EXPECT_EQ(json["consumers"][0]["rate_per_second"], 2.5);
  EXPECT_EQ(json["state"], "running");
}

TEST(StatusViews, TheTableEndsItsOverviewWithTheBroker) {
  const std::string table = status_table(a_status());
  EXPECT_NE(table.find("\nbroker       pid 4242  admin tcp://127.0.0.1:4003\n"), std::string::npos)
      << table;
  wire::StatusReply older = a_status();
  older.clear_broker();  // a broker from before BrokerInfo: no line rather than "pid 0"
  EXPECT_EQ(status_table(older).find("broker "), std::string::npos);
}

}  // namespace
}  // namespace conveyor::ctl
