// The fuzz input language for broker::Core: a byte string read as a sequence of operations, so the
// fuzzer explores sequences (hello, tasks, results, ticks, stop...) and not only single frames.
//
//   op 0/1: a frame on the frontend/backend from route [byte], body: [u16 length][bytes]
//   op 2:   several frames at once on either side (empty/extra frames)
//   op 3:   the clock moves [byte] * 10 ms, then on_tick
//   op 4:   flush
//   op 5:   begin_stop
//   op 6:   the shell failed to deliver outbox message [byte]
//   op 7:   well-behaved consumers answer every task batch in the outbox ([byte] picks the status)
//   op 8:   well-behaved producers acknowledge every result batch in the outbox
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "conveyor/broker/core.hpp"

namespace conveyor::fuzz {

// Runs `data` against a fresh Core, checking its invariants after every operation; aborts (a
// fuzzer finding) when one breaks.
void run_ops(const std::uint8_t* data, std::size_t size);

// Builders for the seed corpus: each returns the bytes of one operation.
std::string frame_op(broker::Side side, std::uint8_t route, const std::string& bytes);
std::string tick_op(std::uint8_t tens_of_ms);
std::string simple_op(std::uint8_t op, std::uint8_t arg = 0);

}  // namespace conveyor::fuzz
