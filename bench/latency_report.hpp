// The latency line printed by conveyor-bench-latency and by conveyor-bench-zmq's round-trip
// baseline, so that the two are read, and compared by bench/run.sh, the same way.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdio>
#include <vector>

namespace conveyor::bench {

// The p-th quantile by nearest rank below, of latencies already sorted.
inline double percentile(const std::vector<double>& sorted, double p) {
  if (sorted.empty()) return 0;
  const auto i = static_cast<std::size_t>(p * static_cast<double>(sorted.size() - 1));
  return sorted[i];
}

// One JSON line (the latencies sorted in place first):
// {"rate":R,"tasks":N,"p50_us":..,"p99_us":..,"p999_us":..,"max_us":..}.
inline void print_latency(double rate, std::vector<double>& latencies_us) {
  std::sort(latencies_us.begin(), latencies_us.end());
  std::printf(
      "{\"rate\":%.0f,\"tasks\":%zu,\"p50_us\":%.1f,\"p99_us\":%.1f,\"p999_us\":%.1f,"
      "\"max_us\":%.1f}\n",
      rate, latencies_us.size(), percentile(latencies_us, 0.5), percentile(latencies_us, 0.99),
      percentile(latencies_us, 0.999), latencies_us.empty() ? 0.0 : latencies_us.back());
}

}  // namespace conveyor::bench
