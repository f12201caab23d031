#include "conveyor/status/json.hpp"

#include <vector>

namespace conveyor::status {
namespace {

nlohmann::json consumers_json(const wire::StatusReply& r) {
  nlohmann::json list = nlohmann::json::array();
  for (const auto& c : r.consumers()) {
    list.push_back({{"id", c.id()},
                    {"address", c.address()},
                    {"in_flight", c.in_flight()},
                    {"capacity", c.capacity()},
                    {"completed", c.completed()},
                    {"connected_seconds", c.connected_seconds()},
                    {"rate_per_second", consumer_rate(c)},
                    {"queue", c.queue()},
                    {"emit_to", c.emit_to()}});
  }
  return list;
}

nlohmann::json queues_json(const wire::StatusReply& r) {
  nlohmann::json list = nlohmann::json::array();
  for (const auto& q : r.queues()) {
    list.push_back(
        {{"name", q.name()},
         {"queued", q.queued()},
         {"delayed", q.delayed()},
         {"in_flight", q.in_flight()},
         {"capacity", q.capacity()},
         {"consumers", q.consumers()},
         {"emits_to", std::vector<std::string>(q.emits_to().begin(), q.emits_to().end())},
         {"finished", q.finished()}});
  }
  return list;
}

nlohmann::json producers_json(const wire::StatusReply& r) {
  nlohmann::json list = nlohmann::json::array();
  for (const auto& p : r.producers()) {
    list.push_back({{"id", p.id()},
                    {"connected", p.connected()},
                    {"sent", p.sent()},
                    {"received", p.received()},
                    {"results_pending", p.results_pending()},
                    {"pilled", p.pilled()},
                    {"queue", p.queue()}});
  }
  return list;
}

nlohmann::json broker_json(const wire::BrokerInfo& b) {
  return {
      {"pid", b.pid()}, {"frontend", b.frontend()}, {"backend", b.backend()}, {"admin", b.admin()}};
}

}  // namespace

std::string state_of(const wire::StatusReply& r) {
  if (r.stopping()) return "stopping";
  return r.drained() ? "drained" : "running";
}

double consumer_rate(const wire::ConsumerStatus& c) {
  return c.connected_seconds() > 0 ? static_cast<double>(c.completed()) / c.connected_seconds()
                                   : 0.0;
}

nlohmann::json status_json(const wire::StatusReply& r) {
  const auto& t = r.totals();
  nlohmann::json json = {{"state", state_of(r)},
                         {"service", r.service()},
                         {"uptime_seconds", r.uptime_seconds()},
                         {"queue_depth", r.queue_depth()},
                         {"queue_capacity", r.queue_capacity()},
                         {"in_flight", r.in_flight()},
                         {"delayed", r.delayed()},
                         {"tasks_held", r.tasks_held()},
                         {"drained", r.drained()},
                         {"stopping", r.stopping()},
                         {"totals",
                          {{"tasks", t.tasks()},
                           {"ok", t.ok()},
                           {"failed", t.failed()},
                           {"dead", t.dead()},
                           {"completed", t.ok() + t.failed() + t.dead()},
                           {"redelivered", t.redelivered()},
                           {"retried", t.retried()},
                           {"rejected", r.rejected_tasks()},
                           {"bad_frames", r.bad_frames()}}},
                         {"consumers", consumers_json(r)},
                         {"queues", queues_json(r)},
                         {"producers", producers_json(r)},
                         {"broker", broker_json(r.broker())}};
  return json;
}

}  // namespace conveyor::status
