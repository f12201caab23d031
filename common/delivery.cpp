#include "conveyor/common/delivery.hpp"

namespace conveyor {

Delivery Delivery::view_of(const wire::Task& task) {
  Delivery view;
  view.producer_ = task.producer();
  view.seq_ = task.seq();
  view.attempt_ = task.attempt();
  view.payload_ = task.payload();
  view.id_ = task.id();
  view.headers_ = task.headers().empty() ? nullptr : &task.headers();
  return view;
}

Delivery Delivery::copy_of(wire::Task task) {
  auto owned = std::make_shared<const wire::Task>(std::move(task));
  Delivery delivery = view_of(*owned);
  delivery.owner_ = std::move(owned);
  return delivery;
}

Delivery Delivery::borrowed() const {
  Delivery copy;
  copy.producer_ = producer_;
  copy.seq_ = seq_;
  copy.attempt_ = attempt_;
  copy.payload_ = payload_;
  copy.id_ = id_;
  copy.headers_ = headers_;
  return copy;
}

const Delivery::Headers& Delivery::headers() const {
  static const Headers kNone;
  return headers_ != nullptr ? *headers_ : kNone;
}

}  // namespace conveyor
