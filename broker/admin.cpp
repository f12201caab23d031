#include "conveyor/broker/admin.hpp"

#include <numeric>

#include "conveyor/common/codec.hpp"

namespace conveyor::broker {
namespace {

void add_consumers(wire::StatusReply& reply, const Core& core, TimePoint now) {
  for (const ConsumerView& view : core.consumer_views(now)) {
    auto* c = reply.add_consumers();
    c->set_id(view.id);
    c->set_address(view.address);
    c->set_in_flight(view.in_flight);
    c->set_capacity(view.capacity);
    c->set_completed(view.completed);
    c->set_connected_seconds(std::chrono::duration<double>(view.connected_for).count());
    c->set_queue(view.queue);
    c->set_emit_to(view.emit_to);
  }
}

void add_queues(wire::StatusReply& reply, const Core& core) {
  for (const QueueView& view : core.queue_views()) {
    auto* q = reply.add_queues();
    q->set_name(view.name);
    q->set_queued(view.queued);
    q->set_delayed(view.delayed);
    q->set_in_flight(view.in_flight);
    q->set_capacity(core.config().queue_capacity);
    q->set_consumers(static_cast<std::uint32_t>(view.consumers));
    for (const auto& target : view.emits_to)
      q->add_emits_to(target);
    q->set_finished(view.finished);
  }
}

void add_producers(wire::StatusReply& reply, const Core& core) {
  for (const ProducerView& view : core.producer_views()) {
    auto* p = reply.add_producers();
    p->set_id(view.id);
    p->set_connected(view.connected);
    p->set_sent(view.sent);
    p->set_received(view.received);
    p->set_results_pending(view.results_pending);
    p->set_pilled(view.pilled);
    p->set_queue(view.queue);
  }
}

}  // namespace

wire::StatusReply status_reply(const Core& core, TimePoint now, TimePoint started) {
  wire::StatusReply reply;
  reply.set_version(kProtocolVersion);
  reply.set_queue_depth(core.queue_depth());
  reply.set_queue_capacity(core.config().queue_capacity);
  reply.set_in_flight(core.in_flight());
  reply.set_delayed(core.delayed());
  reply.set_tasks_held(core.tasks_held());
  reply.set_drained(core.drained());
  reply.set_stopping(core.stopping());
  reply.set_service(core.config().service);
  const Stats& stats = core.stats();
  auto* totals = reply.mutable_totals();
  totals->set_tasks(stats.tasks_received);
  totals->set_ok(stats.ok);
  totals->set_failed(stats.failed);
  totals->set_dead(stats.dead);
  totals->set_redelivered(stats.redelivered);
  totals->set_retried(stats.retried);
  totals->set_seconds(seconds_between(started, now));
  reply.set_rejected_tasks(stats.rejected_tasks);
  reply.set_bad_frames(
      std::accumulate(stats.bad_input.begin(), stats.bad_input.end(), std::uint64_t{0}));
  reply.set_uptime_seconds(seconds_between(started, now));
  add_consumers(reply, core, now);
  add_producers(reply, core);
  add_queues(reply, core);
  return reply;
}

std::string answer_admin_request(std::string_view request, const Core& core, TimePoint now,
                                 TimePoint started, const wire::BrokerInfo* broker) {
  wire::StatusRequest parsed;
  wire::StatusReply reply;
  if (!parsed.ParseFromArray(request.data(), static_cast<int>(request.size()))) {
    reply.set_version(kProtocolVersion);
    reply.set_error("not a StatusRequest");
  } else if (parsed.version() != kProtocolVersion) {
    reply.set_version(kProtocolVersion);
    reply.set_error("protocol version " + std::to_string(parsed.version()) +
                    ", this broker speaks " + std::to_string(kProtocolVersion));
  } else {
    reply = status_reply(core, now, started);
    if (broker) *reply.mutable_broker() = *broker;
  }
  return reply.SerializeAsString();
}

}  // namespace conveyor::broker
