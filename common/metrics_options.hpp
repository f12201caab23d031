// Where a process serves its Prometheus metrics (--metrics-port, --metrics-address). Kept apart
// from common/cli.hpp so that configuration structs need not include CLI11.
#pragma once

#include <cstdint>
#include <string>

namespace conveyor {

struct MetricsOptions {
  std::uint16_t port = 0;  // 0: no metrics server
  std::string address = "0.0.0.0";
};

}  // namespace conveyor
