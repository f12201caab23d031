// libFuzzer entry point: arbitrary operation sequences against broker::Core (see fuzz_ops.hpp).
#include <cstddef>
#include <cstdint>

#include "fuzz/fuzz_ops.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  conveyor::fuzz::run_ops(data, size);
  return 0;
}
