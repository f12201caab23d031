#include "conveyor/common/malloc_tuning.hpp"

#include <cstdlib>  // before the test below: a libc header defines __GLIBC__

#if defined(__GLIBC__)
#include <malloc.h>
#endif

namespace conveyor {

void tune_malloc() {
#if defined(__GLIBC__)
  // Setting either turns off glibc's own adjustment of both (it only ever raises them, after
  // the fact): these are the values it would need from the first batch on.
  mallopt(M_MMAP_THRESHOLD, static_cast<int>(kMmapBelowBytes));
  mallopt(M_TRIM_THRESHOLD, static_cast<int>(kKeptFreeBytes));
#endif
}

}  // namespace conveyor
