#include "conveyor/ctl/status.hpp"

#include <algorithm>
#include <cstdio>
#include <vector>

#include <zmq.hpp>

#include "conveyor/common/codec.hpp"

namespace conveyor::ctl {
namespace {

using Row = std::vector<std::string>;

// Columns padded to their widest cell, two spaces apart.
std::string render(const std::vector<Row>& rows) {
  std::vector<std::size_t> widths;
  for (const Row& row : rows) {
    widths.resize(std::max(widths.size(), row.size()));
    for (std::size_t i = 0; i < row.size(); ++i)
      widths[i] = std::max(widths[i], row[i].size());
  }
  std::string out;
  for (const Row& row : rows) {
    std::string line;
    for (std::size_t i = 0; i < row.size(); ++i) {
      line += row[i];
      if (i + 1 < row.size()) line += std::string(widths[i] - row[i].size() + 2, ' ');
    }
    out += line + "\n";
  }
  return out;
}

std::string fixed(double value, int decimals = 1) {
  char text[64];
  std::snprintf(text, sizeof text, "%.*f", decimals, value);
  return text;
}

double rate(const wire::ConsumerStatus& c) {
  return c.connected_seconds() > 0 ? static_cast<double>(c.completed()) / c.connected_seconds()
                                   : 0.0;
}

std::string state_of(const wire::StatusReply& r) {
  if (r.stopping()) return "stopping";
  return r.drained() ? "drained" : "running";
}

std::string overview(const wire::StatusReply& r) {
  const auto& t = r.totals();
  const auto n = [](std::uint64_t v) { return std::to_string(v); };
  return render({
      {"state", state_of(r) + (r.service() ? " (service)" : ""), "up",
       fixed(r.uptime_seconds()) + " s"},
      {"queue", n(r.queue_depth()) + " / " + n(r.queue_capacity()), "in flight", n(r.in_flight())},
      {"tasks", n(t.tasks()), "ok", n(t.ok()), "failed", n(t.failed()), "dead", n(t.dead())},
      {"redelivered", n(t.redelivered()), "rejected", n(r.rejected_tasks()), "bad frames",
       n(r.bad_frames())},
  });
}

}  // namespace

Expected<wire::StatusReply, std::string> fetch_status(const std::string& endpoint,
                                                      Duration timeout) {
  const std::string unreachable = "no answer from the broker's admin endpoint " + endpoint +
                                  " within " + std::to_string(to_ms(timeout)) + " ms";
  try {
    zmq::context_t context(1);
    zmq::socket_t socket(context, zmq::socket_type::req);
    socket.set(zmq::sockopt::linger, 0);  // an unanswered request must not hold up the exit
    socket.set(zmq::sockopt::maxmsgsize, std::int64_t{64} << 20);
    socket.connect(endpoint);
    wire::StatusRequest request;
    request.set_version(kProtocolVersion);
    const std::string bytes = request.SerializeAsString();
    if (!socket.send(zmq::buffer(bytes), zmq::send_flags::dontwait)) return unexpected(unreachable);
    zmq::pollitem_t item{socket.handle(), 0, ZMQ_POLLIN, 0};
    if (zmq::poll(&item, 1, std::chrono::milliseconds(to_ms(timeout))) == 0) {
      return unexpected(unreachable);
    }
    zmq::message_t frame;
    (void)socket.recv(frame, zmq::recv_flags::none);
    wire::StatusReply reply;
    if (!reply.ParseFromArray(frame.data(), static_cast<int>(frame.size()))) {
      return unexpected(endpoint + " answered with something that is not a StatusReply");
    }
    if (!reply.error().empty()) return unexpected("the broker refused: " + reply.error());
    return reply;
  } catch (const zmq::error_t& e) {
    return unexpected("cannot reach " + endpoint + ": " + e.what());
  }
}

namespace {

std::string queues_table(const wire::StatusReply& r) {
  std::vector<Row> rows{
      {"QUEUE", "QUEUED", "DELAYED", "IN FLIGHT", "CONSUMERS", "EMITS TO", "STATE"}};
  for (const auto& q : r.queues()) {
    std::string targets;
    for (const auto& t : q.emits_to())
      targets += (targets.empty() ? "" : ",") + t;
    rows.push_back({q.name(), std::to_string(q.queued()), std::to_string(q.delayed()),
                    std::to_string(q.in_flight()), std::to_string(q.consumers()),
                    targets.empty() ? "-" : targets, q.finished() ? "finished" : "open"});
  }
  return render(rows);
}

}  // namespace

std::string status_table(const wire::StatusReply& r) {
  std::string out = overview(r);
  std::vector<Row> consumers{
      {"CONSUMER", "ADDRESS", "IN FLIGHT", "CAPACITY", "COMPLETED", "RATE/S"}};
  for (const auto& c : r.consumers()) {
    consumers.push_back({c.id(), c.address().empty() ? "-" : c.address(),
                         std::to_string(c.in_flight()), std::to_string(c.capacity()),
                         std::to_string(c.completed()), fixed(rate(c))});
  }
  out +=
      "\n" + (r.consumers().empty() ? std::string("no consumers connected\n") : render(consumers));
  std::vector<Row> producers{{"PRODUCER", "CONNECTED", "SENT", "RECEIVED", "PENDING", "PILLED"}};
  for (const auto& p : r.producers()) {
    producers.push_back({p.id(), p.connected() ? "yes" : "no", std::to_string(p.sent()),
                         std::to_string(p.received()), std::to_string(p.results_pending()),
                         p.pilled() ? "yes" : "no"});
  }
  out += "\n" + (r.producers().empty() ? std::string("no producers seen\n") : render(producers));
  if (r.queues_size() > 1 || (r.queues_size() == 1 && r.queues(0).name() != "default")) {
    out += "\n" + queues_table(r);
  }
  return out;
}

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
                    {"rate_per_second", rate(c)},
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

}  // namespace

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
                         {"producers", producers_json(r)}};
  return json;
}

}  // namespace conveyor::ctl
