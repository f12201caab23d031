// tune_malloc(): a batch-sized buffer comes from the heap, not from a mapping of its own that
// would be faulted in page by page and unmapped again at every batch.
#include "conveyor/common/malloc_tuning.hpp"

#include <gtest/gtest.h>
#include <malloc.h>

#include <cstdlib>

namespace conveyor {
namespace {

TEST(TuneMalloc, ABatchSizedBufferIsNotAMappingOfItsOwn) {
#if defined(__SANITIZE_ADDRESS__)
  GTEST_SKIP() << "AddressSanitizer's allocator replaces glibc's: nothing to tune";
#endif
  tune_malloc();
  const std::size_t mappings = mallinfo2().hblks;
  void* batch = std::malloc(kMaxKeptBatchBytes);
  ASSERT_NE(batch, nullptr);
  EXPECT_EQ(mallinfo2().hblks, mappings);
  std::free(batch);
  void* huge = std::malloc(4 * kMmapBelowBytes);  // over the threshold: mapped, and unmapped
  ASSERT_NE(huge, nullptr);
  EXPECT_EQ(mallinfo2().hblks, mappings + 1) << "the measure can tell a mapping";
  std::free(huge);
}

}  // namespace
}  // namespace conveyor
