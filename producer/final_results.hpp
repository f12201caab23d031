// FinalResults: the final results a producer has yet to write, as views into the frames they
// came in; each frame is kept (its owner) until the results are on disk and the list is cleared.
//
// Why not a wire::Result each: parsing one per result and destroying it was about 2,400 of the
// producer's instructions per task; with views it went from 6,376 to 3,760 (callgrind,
// BENCHMARKS.md, "CPU per task").
#pragma once

#include <cstddef>
#include <memory>
#include <vector>

#include "conveyor/common/batch_reader.hpp"
#include "conveyor/proto/conveyor.pb.h"

namespace conveyor::producer {

class FinalResults {
 public:
  // Keeps what the results added next point into (a frame, or a batch decode() parsed).
  void keep(std::shared_ptr<const void> owner) { owners_.push_back(std::move(owner)); }
  void add(const ResultView& result) { views_.push_back(result); }
  // A result the producer made itself (a payload over the broker's limit): held here.
  void add_owned(wire::Result result) {
    auto owned = std::make_shared<const wire::Result>(std::move(result));
    views_.push_back(view_of(*owned));
    owners_.push_back(std::move(owned));
  }
  // Once written: the views and their frames go (the vectors keep their room).
  void clear() {
    views_.clear();
    owners_.clear();
  }

  std::size_t size() const { return views_.size(); }
  bool empty() const { return views_.empty(); }
  const ResultView& operator[](std::size_t i) const { return views_[i]; }
  auto begin() const { return views_.begin(); }
  auto end() const { return views_.end(); }

 private:
  std::vector<ResultView> views_;
  std::vector<std::shared_ptr<const void>> owners_;
};

}  // namespace conveyor::producer
