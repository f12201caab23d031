#include "conveyor/producer/source_reader.hpp"

#include <algorithm>
#include <cstdint>
#include <cstring>

#include "conveyor/common/sockets.hpp"

namespace conveyor::producer {

SourceReader::SourceReader(zmq::context_t& context, std::unique_ptr<Source> source)
    : source_(std::move(source)),
      size_hint_(source_->size_hint()),
      socket_(context, zmq::socket_type::pair) {
  const std::string endpoint = unique_inproc_endpoint("conveyor-source");
  socket_.set(zmq::sockopt::linger, 0);
  socket_.bind(endpoint);
  zmq::socket_t peer(context, zmq::socket_type::pair);
  peer.set(zmq::sockopt::linger, 0);
  peer.connect(endpoint);
  thread_ = std::thread(&SourceReader::serve, std::move(peer), std::ref(*source_));
}

SourceReader::~SourceReader() {
  stop();
}

void SourceReader::request(std::size_t count) {
  if (busy_ || stopped_ || count == 0) return;
  const std::uint64_t n = count;
  socket_.send(zmq::buffer(&n, sizeof n), zmq::send_flags::none);
  busy_ = true;
}

std::unique_ptr<SourceBatch> SourceReader::take() {
  auto batch = receive_owned<SourceBatch>(socket_, zmq::recv_flags::dontwait);
  if (batch) busy_ = false;
  return batch;
}

void SourceReader::stop() {
  if (stopped_) return;
  stopped_ = true;
  source_->interrupt();
  const std::uint64_t zero = 0;  // a request for nothing ends the thread
  socket_.send(zmq::buffer(&zero, sizeof zero), zmq::send_flags::none);
  thread_.join();
  while (receive_owned<SourceBatch>(socket_, zmq::recv_flags::dontwait)) {
  }
}

namespace {

// A batch ends past this many bytes of payloads, so that its one buffer stays well under the
// allocator's mmap threshold (common/malloc_tuning.hpp) and is reserved once, not grown.
constexpr std::size_t kBatchBytes = std::size_t{1} << 20;

// Up to `want` payloads into `batch`, its buffer reserved from the last payload's size (sources
// mostly give payloads of one size). Stops short when the source would block: a slow stdin must
// not hold back what is read.
void fill(SourceBatch& batch, Source& source, std::uint64_t want, std::string& scratch) {
  const std::uint64_t guess = want * std::max<std::size_t>(scratch.size(), 1);
  batch.bytes.reserve(static_cast<std::size_t>(std::min<std::uint64_t>(guess, kBatchBytes)) + 64);
  while (!batch.end && batch.size() < want && batch.bytes.size() < kBatchBytes &&
         (batch.size() == 0 || source.ready())) {
    if (source.next_into(scratch)) {
      batch.add(scratch);
    } else {
      batch.end = true;
    }
  }
}

}  // namespace

void SourceReader::serve(zmq::socket_t socket, Source& source) {
  bool ended = false;
  std::string scratch;  // each payload's buffer, reused: the source writes into it
  while (true) {
    zmq::message_t request;
    if (!socket.recv(request, zmq::recv_flags::none)) break;
    std::uint64_t want = 0;
    if (request.size() == sizeof want) std::memcpy(&want, request.data(), sizeof want);
    if (want == 0) break;
    auto batch = std::make_unique<SourceBatch>();
    batch->end = ended;
    try {
      fill(*batch, source, want, scratch);
    } catch (const std::exception& e) {
      batch->end = true;
      batch->error = e.what();
    }
    ended = batch->end;
    send_owned(socket, std::move(batch));
  }
}

}  // namespace conveyor::producer
