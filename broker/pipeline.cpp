#include "conveyor/broker/pipeline.hpp"

#include <algorithm>

namespace conveyor::broker {

void Pipeline::add_edge(std::uint32_t from, std::uint32_t to) {
  edges_.emplace(from, to);
}

bool Pipeline::has_edge(std::uint32_t from, std::uint32_t to) const {
  return edges_.contains({from, to});
}

std::vector<std::uint32_t> Pipeline::targets(std::uint32_t from) const {
  std::vector<std::uint32_t> out;
  for (auto it = edges_.lower_bound({from, 0}); it != edges_.end() && it->first == from; ++it)
    out.push_back(it->second);
  return out;
}

bool Pipeline::reaches(std::uint32_t from, std::uint32_t to) const {
  std::vector<std::uint32_t> stack = {from};
  std::set<std::uint32_t> seen = {from};
  while (!stack.empty()) {
    const std::uint32_t q = stack.back();
    stack.pop_back();
    if (q == to) return true;
    for (const std::uint32_t next : targets(q)) {
      if (seen.insert(next).second) stack.push_back(next);
    }
  }
  return false;
}

std::vector<std::uint32_t> Pipeline::components(std::uint32_t queues) const {
  // Two queues share a component when each reaches the other. The queues are few (--max-queues),
  // so reachability per pair is cheap and plainer than Tarjan's algorithm.
  std::vector<std::vector<bool>> reach(queues, std::vector<bool>(queues, false));
  for (std::uint32_t a = 0; a < queues; ++a) {
    for (std::uint32_t b = 0; b < queues; ++b)
      reach[a][b] = reaches(a, b);
  }
  // Order components by how many queues reach them: upstream ones are reached by fewer.
  std::vector<std::uint32_t> order(queues);
  for (std::uint32_t q = 0; q < queues; ++q)
    order[q] = q;
  const auto reached_by = [&](std::uint32_t q) {
    return std::count_if(reach.begin(), reach.end(), [&](const auto& row) { return row[q]; });
  };
  std::stable_sort(order.begin(), order.end(),
                   [&](std::uint32_t a, std::uint32_t b) { return reached_by(a) < reached_by(b); });
  std::vector<std::uint32_t> component(queues, queues);
  std::uint32_t next = 0;
  for (const std::uint32_t q : order) {
    if (component[q] != queues) continue;
    for (std::uint32_t other = 0; other < queues; ++other) {
      if (reach[q][other] && reach[other][q]) component[other] = next;
    }
    ++next;
  }
  return component;
}

// §7.4.3: assume first that undeclared queues emit nowhere; each one that is not finished then
// (it may still get tasks) may emit anywhere. Adding edges only ever finishes fewer queues, so
// this ends within one round per queue.
std::vector<bool> Pipeline::finished(std::uint32_t queues,
                                     const std::function<bool(std::uint32_t)>& holds_tasks) const {
  Pipeline effective = *this;
  for (;;) {
    std::vector<bool> done = effective.finished_by_edges(queues, holds_tasks);
    bool widened = false;
    for (std::uint32_t q = 0; q < queues; ++q) {
      if (declared_.contains(q) || done[q] || effective.declared_.contains(q)) continue;
      effective.declared_.insert(q);  // here: its edges are now in `effective`
      for (std::uint32_t to = 0; to < queues; ++to)
        effective.add_edge(q, to);
      widened = true;
    }
    if (!widened) return done;
  }
}

std::vector<bool> Pipeline::finished_by_edges(
    std::uint32_t queues, const std::function<bool(std::uint32_t)>& holds_tasks) const {
  const std::vector<std::uint32_t> component = components(queues);
  std::uint32_t count = 0;
  for (const std::uint32_t c : component)
    count = std::max(count, c + 1);
  std::vector<bool> done(count, true);  // by component, decided in topological order
  for (std::uint32_t c = 0; c < count; ++c) {
    for (std::uint32_t q = 0; q < queues; ++q) {
      if (component[q] == c && holds_tasks(q)) done[c] = false;
    }
    for (const auto& [from, to] : edges_) {
      if (from < queues && to < queues && component[to] == c && component[from] != c &&
          !done[component[from]]) {
        done[c] = false;  // fed by a component that may still emit
      }
    }
  }
  std::vector<bool> out(queues);
  for (std::uint32_t q = 0; q < queues; ++q)
    out[q] = done[component[q]];
  return out;
}

}  // namespace conveyor::broker
