#include "conveyor/producer/source_reader.hpp"

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

void SourceReader::serve(zmq::socket_t socket, Source& source) {
  bool ended = false;
  while (true) {
    zmq::message_t request;
    if (!socket.recv(request, zmq::recv_flags::none)) break;
    std::uint64_t want = 0;
    if (request.size() == sizeof want) std::memcpy(&want, request.data(), sizeof want);
    if (want == 0) break;
    auto batch = std::make_unique<SourceBatch>();
    batch->end = ended;
    try {
      // Stop short when the source would block: a slow stdin must not hold back what is read.
      while (!batch->end && batch->payloads.size() < want &&
             (batch->payloads.empty() || source.ready())) {
        auto payload = source.next();
        if (!payload) {
          batch->end = true;
        } else {
          batch->payloads.push_back(std::move(*payload));
        }
      }
    } catch (const std::exception& e) {
      batch->end = true;
      batch->error = e.what();
    }
    ended = batch->end;
    send_owned(socket, std::move(batch));
  }
}

}  // namespace conveyor::producer
