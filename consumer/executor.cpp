#include "conveyor/consumer/executor.hpp"

#include <limits>

namespace conveyor::consumer {

void ThreadExecutor::attach(EventLoop& loop, Done done) {
  for (std::size_t i = 0; i < pool_.size(); ++i) {
    loop.watch(pool_.socket(i), [this, i, done] {
      if (auto batch = pool_.collect(i)) done(std::move(batch));
    });
  }
}

std::size_t ThreadExecutor::max_batch() const {
  return std::numeric_limits<std::size_t>::max();  // the session sizes batches to handler speed
}

}  // namespace conveyor::consumer
