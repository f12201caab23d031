#include "conveyor/ctl/status.hpp"

#include <algorithm>
#include <cstdio>
#include <vector>

#include <zmq.hpp>

#include "conveyor/common/codec.hpp"
#include "conveyor/status/json.hpp"

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

std::string overview(const wire::StatusReply& r) {
  const auto& t = r.totals();
  const auto n = [](std::uint64_t v) { return std::to_string(v); };
  std::string out = render({
      {"state", status::state_of(r) + (r.service() ? " (service)" : ""), "up",
       fixed(r.uptime_seconds()) + " s"},
      {"queue", n(r.queue_depth()) + " / " + n(r.queue_capacity()), "in flight", n(r.in_flight())},
      {"tasks", n(t.tasks()), "ok", n(t.ok()), "failed", n(t.failed()), "dead", n(t.dead())},
      {"redelivered", n(t.redelivered()), "rejected", n(r.rejected_tasks()), "bad frames",
       n(r.bad_frames())},
  });
  // Which broker this is: two on one host are told apart by their pid and admin endpoint. A line
  // of its own (the label padded as the widest above, "redelivered"), so that a long endpoint
  // does not widen the columns of the table.
  if (r.broker().pid() != 0) {
    out += "broker       pid " + std::to_string(r.broker().pid()) + "  admin " +
           (r.broker().admin().empty() ? "-" : r.broker().admin()) + "\n";
  }
  return out;
}

}  // namespace

Expected<wire::StatusReply, std::string> fetch_status(const std::string& endpoint, Duration timeout,
                                                      int wake_fd) {
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
    zmq::pollitem_t items[] = {{socket.handle(), 0, ZMQ_POLLIN, 0},
                               {nullptr, wake_fd, ZMQ_POLLIN, 0}};
    (void)zmq::poll(items, wake_fd < 0 ? 1 : 2, std::chrono::milliseconds(to_ms(timeout)));
    if ((items[0].revents & ZMQ_POLLIN) == 0) {
      return unexpected((items[1].revents & ZMQ_POLLIN) != 0 ? "interrupted" : unreachable);
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
                         std::to_string(c.completed()), fixed(status::consumer_rate(c))});
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

}  // namespace conveyor::ctl
