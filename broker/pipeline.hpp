// broker::Pipeline: which queues no more work can reach (DESIGN.md §7.4), from the emit graph
// the consumers' --emit-to declare. Sans-IO: queues are numbers, the caller says which hold tasks.
//
//   §7.4.1  A queue is finished once every producer of the run has pilled, it holds no task
//           (queued, delayed or in flight), and every queue that emits into it is finished: no
//           task can reach it any more, and its consumers are pilled.
//   §7.4.2  A cycle (a crawler emitting into its own queue) is finished when the whole cycle is
//           empty and every queue feeding it from outside is finished: the queues of a strongly
//           connected component finish together.
//   §7.4.3  Where a queue's tasks go is known once one of its consumers has said hello in this
//           run. Until then a queue that may still get tasks (it is not finished by the rules
//           above) may emit into any queue. (Else a third stage whose consumers connect before
//           the second stage's would be pilled at once, and the second stage's emits refused.)
// Edges are kept for the run: a consumer that left still says where its queue's tasks could go.
#pragma once

#include <cstdint>
#include <functional>
#include <set>
#include <vector>

namespace conveyor::broker {

class Pipeline {
 public:
  // A consumer of queue `from` emits into queue `to`.
  void add_edge(std::uint32_t from, std::uint32_t to);
  bool has_edge(std::uint32_t from, std::uint32_t to) const;
  // A consumer of `queue` said hello: where its tasks can go is known (its edge, if any, added).
  void declare(std::uint32_t queue) { declared_.insert(queue); }
  // The queues `from` emits into.
  std::vector<std::uint32_t> targets(std::uint32_t from) const;
  // Whether `to` can be reached from `from` (a queue reaches itself).
  bool reaches(std::uint32_t from, std::uint32_t to) const;

  // §7.4.1 and §7.4.2 for queues 0..queues-1, once every producer has pilled. `holds_tasks(q)`:
  // queue q has a task queued, delayed or in flight.
  std::vector<bool> finished(std::uint32_t queues,
                             const std::function<bool(std::uint32_t)>& holds_tasks) const;

  void clear() {
    edges_.clear();
    declared_.clear();
  }

 private:
  // §7.4.1 and §7.4.2 with the edges known, as if undeclared queues emitted nowhere.
  std::vector<bool> finished_by_edges(std::uint32_t queues,
                                      const std::function<bool(std::uint32_t)>& holds_tasks) const;
  // The strongly connected component of each queue, numbered in topological order of the
  // condensation (a component's upstream components have smaller numbers).
  std::vector<std::uint32_t> components(std::uint32_t queues) const;

  std::set<std::pair<std::uint32_t, std::uint32_t>> edges_;
  std::set<std::uint32_t> declared_;
};

}  // namespace conveyor::broker
