// tune_malloc(): how glibc's allocator treats the large buffers a Conveyor process cycles through
// (batches of up to 1 MiB written and sent, frames of that size received by ZeroMQ's I/O thread
// and freed by ours).
//
// Why: by default glibc gives the top of a heap back to the kernel as soon as 128 KiB of it are
// free (the threshold then follows the largest buffer freed, but only so far), and the next batch
// takes the pages back one fault at a time, each zero-filled. The broker took a fresh page for
// nearly every byte it handled: 122,463 minor faults for 500,000 tasks of 1 KiB, 0.8 s of system
// time in a 2.2 s run (`bench/cpu_split.sh` with /usr/bin/time's %R, BENCHMARKS.md).
#pragma once

#include <cstddef>

#include "conveyor/common/batch_writer.hpp"

namespace conveyor {

// Buffers up to the largest batch a pool keeps (kMaxKeptBatchBytes, with room for the allocator's
// own header) come from the heap, not a mapping of their own; and a heap keeps up to
// kKeptFreeBytes free at its top for the next ones. 8 MiB cut the broker's faults at 1 KiB from
// 107,334-134,799 to 19,149-23,810 per 500,000 tasks; 32 MiB to about 14,000, but its flood peak
// (4 KiB tasks) was 70-80 MiB against 60-76 MiB untuned, where 8 MiB measured 65-67.
inline constexpr std::size_t kMmapBelowBytes = kMaxKeptBatchBytes + (std::size_t{128} << 10);
inline constexpr std::size_t kKeptFreeBytes = std::size_t{8} << 20;

// Sets both; once, before the process starts its threads. A no-op without glibc.
void tune_malloc();

}  // namespace conveyor
