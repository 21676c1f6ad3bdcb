// What invitations_load measured, summarised: throughput, latency percentiles, errors by code,
// as text for people and JSON for scripts (deploy/bench.sh). Pure: no I/O, no gRPC.
#ifndef SECURELINK_CLIENT_LOAD_LATENCY_STATS_H_
#define SECURELINK_CLIENT_LOAD_LATENCY_STATS_H_

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/time/time.h"

namespace securelink::invitations::load {

// The calls of one operation (or of all) during the measured phase. Not thread-safe: each caller
// records into its own and Merge combines them at the end.
class LatencyRecorder {
 public:
  // A call that ended with `code` after `latency`. Only OK calls count towards the latencies.
  void Record(absl::StatusCode code, absl::Duration latency);
  void Merge(const LatencyRecorder& other);

  int64_t ok() const { return static_cast<int64_t>(ok_latencies_ns_.size()); }
  int64_t errors() const;
  const std::map<absl::StatusCode, int64_t>& errors_by_code() const { return errors_; }
  // Latencies of the OK calls, in nanoseconds, in recording order.
  const std::vector<int64_t>& ok_latencies_ns() const { return ok_latencies_ns_; }

 private:
  std::vector<int64_t> ok_latencies_ns_;
  std::map<absl::StatusCode, int64_t> errors_;
};

struct LatencySummary {
  int64_t calls = 0;     // OK + errors
  int64_t ok = 0;
  int64_t errors = 0;
  std::map<std::string, int64_t> errors_by_code;  // "UNAVAILABLE" → count
  double throughput = 0;  // OK calls per second of the measured phase
  // Of the OK calls (zero when there were none). Nearest-rank percentiles.
  absl::Duration mean, p50, p90, p99, max;
};

// The p-th percentile (0 < p <= 100) of `values` by the nearest-rank method: the smallest value
// with at least p% of the values at or below it. `values` is sorted in place. 0 when empty.
int64_t NearestRankPercentile(std::vector<int64_t>& values, double p);

// Summarises `recorder` over a measured phase that lasted `elapsed` (> 0).
LatencySummary Summarize(const LatencyRecorder& recorder, absl::Duration elapsed);

// A named group of summaries: "all" plus one per operation of the mix.
struct LoadReport {
  std::string target;
  int concurrency = 0;
  double rate = 0;  // 0: unlimited
  absl::Duration elapsed;
  std::vector<std::pair<std::string, LatencySummary>> summaries;
};

// Aligned text, one line per summary, latencies in milliseconds.
std::string FormatText(const LoadReport& report);

// {"target":…,"concurrency":…,"rate":…,"elapsed_s":…,"results":{"all":{"calls":…,"ok":…,
//  "errors":…,"errors_by_code":{…},"throughput":…,"latency_ms":{"mean":…,"p50":…,"p90":…,
//  "p99":…,"max":…}},"create":{…}}}
std::string FormatJson(const LoadReport& report);

}  // namespace securelink::invitations::load

#endif  // SECURELINK_CLIENT_LOAD_LATENCY_STATS_H_
