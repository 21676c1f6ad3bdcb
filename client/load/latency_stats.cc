#include "latency_stats.h"

#include <algorithm>
#include <cmath>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "nlohmann/json.hpp"

namespace securelink::invitations::load {
namespace {

double Ms(absl::Duration d) { return absl::ToDoubleMilliseconds(d); }

}  // namespace

void LatencyRecorder::Record(absl::StatusCode code, absl::Duration latency) {
  if (code == absl::StatusCode::kOk) {
    ok_latencies_ns_.push_back(absl::ToInt64Nanoseconds(latency));
  } else {
    ++errors_[code];
  }
}

void LatencyRecorder::Merge(const LatencyRecorder& other) {
  ok_latencies_ns_.insert(ok_latencies_ns_.end(), other.ok_latencies_ns_.begin(),
                          other.ok_latencies_ns_.end());
  for (const auto& [code, n] : other.errors_) errors_[code] += n;
}

int64_t LatencyRecorder::errors() const {
  int64_t n = 0;
  for (const auto& [code, count] : errors_) n += count;
  return n;
}

int64_t NearestRankPercentile(std::vector<int64_t>& values, double p) {
  if (values.empty()) return 0;
  std::sort(values.begin(), values.end());
  const double rank = std::ceil(p / 100.0 * static_cast<double>(values.size()));
  size_t index = rank < 1 ? 0 : static_cast<size_t>(rank) - 1;
  return values[std::min(index, values.size() - 1)];
}

LatencySummary Summarize(const LatencyRecorder& recorder, absl::Duration elapsed) {
  LatencySummary s;
  s.ok = recorder.ok();
  s.errors = recorder.errors();
  s.calls = s.ok + s.errors;
  for (const auto& [code, n] : recorder.errors_by_code()) {
    s.errors_by_code[absl::StatusCodeToString(code)] = n;
  }
  if (elapsed > absl::ZeroDuration()) {
    s.throughput = static_cast<double>(s.ok) / absl::ToDoubleSeconds(elapsed);
  }
  std::vector<int64_t> ns = recorder.ok_latencies_ns();
  if (ns.empty()) return s;
  long double sum = 0;
  for (int64_t v : ns) sum += v;
  s.mean = absl::Nanoseconds(static_cast<double>(sum / ns.size()));
  s.p50 = absl::Nanoseconds(NearestRankPercentile(ns, 50));  // sorts ns
  s.p90 = absl::Nanoseconds(NearestRankPercentile(ns, 90));
  s.p99 = absl::Nanoseconds(NearestRankPercentile(ns, 99));
  s.max = absl::Nanoseconds(ns.back());
  return s;
}

std::string FormatText(const LoadReport& report) {
  std::string out = absl::StrFormat(
      "target %s, %d callers, %s, measured %.2f s\n", report.target, report.concurrency,
      report.rate > 0 ? absl::StrFormat("rate %.0f/s", report.rate) : "unlimited rate",
      absl::ToDoubleSeconds(report.elapsed));
  absl::StrAppendFormat(&out, "%-9s %9s %7s %10s %8s %8s %8s %8s %8s\n", "op", "ok", "errors",
                        "calls/s", "mean_ms", "p50_ms", "p90_ms", "p99_ms", "max_ms");
  for (const auto& [name, s] : report.summaries) {
    absl::StrAppendFormat(&out, "%-9s %9d %7d %10.1f %8.2f %8.2f %8.2f %8.2f %8.2f\n", name, s.ok,
                          s.errors, s.throughput, Ms(s.mean), Ms(s.p50), Ms(s.p90), Ms(s.p99),
                          Ms(s.max));
    for (const auto& [code, n] : s.errors_by_code) {
      absl::StrAppendFormat(&out, "          %s: %d\n", code, n);
    }
  }
  return out;
}

std::string FormatJson(const LoadReport& report) {
  nlohmann::json results = nlohmann::json::object();
  for (const auto& [name, s] : report.summaries) {
    results[name] = {
        {"calls", s.calls},
        {"ok", s.ok},
        {"errors", s.errors},
        {"errors_by_code", s.errors_by_code},
        {"throughput", s.throughput},
        {"latency_ms",
         {{"mean", Ms(s.mean)}, {"p50", Ms(s.p50)}, {"p90", Ms(s.p90)}, {"p99", Ms(s.p99)},
          {"max", Ms(s.max)}}}};
  }
  nlohmann::json doc = {{"target", report.target},
                        {"concurrency", report.concurrency},
                        {"rate", report.rate},
                        {"elapsed_s", absl::ToDoubleSeconds(report.elapsed)},
                        {"results", results}};
  return doc.dump() + "\n";
}

}  // namespace securelink::invitations::load
