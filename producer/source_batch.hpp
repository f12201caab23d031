// SourceBatch: what the producer's source reader hands its I/O loop in one message.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

namespace conveyor::producer {

// Payloads end to end in one buffer, not a string each: a batch costs an allocation or two, not
// one per payload made on the reader's thread and freed on the I/O thread.
struct SourceBatch {
  std::string bytes;              // the payloads, one after the other
  std::vector<std::size_t> ends;  // where each ends in `bytes`
  bool end = false;               // the source is exhausted (or failed, see error)
  std::string error;              // why the source failed, if it did

  std::size_t size() const { return ends.size(); }
  std::string_view payload(std::size_t i) const {
    const std::size_t from = i == 0 ? 0 : ends[i - 1];
    return std::string_view(bytes).substr(from, ends[i] - from);
  }
  void add(std::string_view payload) {
    bytes.append(payload);
    ends.push_back(bytes.size());
  }
};

}  // namespace conveyor::producer
