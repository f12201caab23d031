// SourceReader: runs a Source on its own thread so that a slow or blocking source never stalls
// the producer's I/O loop. The loop asks for up to N payloads; the reader answers with one batch,
// short when the source would block, over an inproc PAIR socket. Nothing is shared: each batch
// changes owner as it crosses.
#pragma once

#include <memory>
#include <string>
#include <thread>
#include <vector>

#include <zmq.hpp>

#include "conveyor/producer/source.hpp"
#include "conveyor/producer/source_batch.hpp"

namespace conveyor::producer {

class SourceReader {
 public:
  SourceReader(zmq::context_t& context, std::unique_ptr<Source> source);
  ~SourceReader();
  SourceReader(const SourceReader&) = delete;
  SourceReader& operator=(const SourceReader&) = delete;

  // Readable when a batch has arrived.
  zmq::socket_t& socket() { return socket_; }
  // Asks for up to `count` payloads; one request at a time.
  void request(std::size_t count);
  bool busy() const { return busy_; }
  // The batch that made socket() readable.
  std::unique_ptr<SourceBatch> take();
  // Stops the thread: interrupts a blocked read and joins.
  void stop();
  std::optional<std::uint64_t> size_hint() const { return size_hint_; }

 private:
  static void serve(zmq::socket_t socket, Source& source);

  std::unique_ptr<Source> source_;
  std::optional<std::uint64_t> size_hint_;
  zmq::socket_t socket_;
  std::thread thread_;
  bool busy_ = false;
  bool stopped_ = false;
};

}  // namespace conveyor::producer
