#include "server/metrics/process_metrics.h"

#include <sys/resource.h>
#include <unistd.h>

#include <filesystem>
#include <optional>
#include <string>

#include "absl/strings/numbers.h"
#include "absl/strings/str_split.h"
#include "absl/strings/string_view.h"
#include "server/util/file.h"

namespace securelink::invitations::metrics {
namespace {

prometheus::MetricFamily Single(std::string name, std::string help, prometheus::MetricType type,
                                double value) {
  prometheus::ClientMetric metric;
  if (type == prometheus::MetricType::Counter) {
    metric.counter.value = value;
  } else {
    metric.gauge.value = value;
  }
  return prometheus::MetricFamily{std::move(name), std::move(help), type, {metric}};
}

std::optional<std::string> ReadProcFile(const char* path) {
  absl::StatusOr<std::string> text = ReadWholeFile(path);
  if (!text.ok()) return std::nullopt;
  return *std::move(text);
}

// The fields of /proc/self/stat after the command name (which may hold spaces and parentheses):
// fields[0] is the state, field N of proc(5) is fields[N - 3].
std::vector<std::string> StatFields() {
  std::optional<std::string> stat = ReadProcFile("/proc/self/stat");
  if (!stat.has_value()) return {};
  const size_t end_of_name = stat->rfind(')');
  if (end_of_name == std::string::npos) return {};
  return absl::StrSplit(absl::string_view(*stat).substr(end_of_name + 2), ' ',
                        absl::SkipEmpty());
}

std::optional<double> Field(const std::vector<std::string>& fields, size_t proc_field) {
  double value = 0;
  if (proc_field < 3 || proc_field - 3 >= fields.size() ||
      !absl::SimpleAtod(fields[proc_field - 3], &value)) {
    return std::nullopt;
  }
  return value;
}

std::optional<double> BootTimeSeconds() {
  std::optional<std::string> stat = ReadProcFile("/proc/stat");
  if (!stat.has_value()) return std::nullopt;
  for (absl::string_view line : absl::StrSplit(*stat, '\n')) {
    double value = 0;
    if (absl::ConsumePrefix(&line, "btime ") && absl::SimpleAtod(line, &value)) return value;
  }
  return std::nullopt;
}

}  // namespace

std::vector<prometheus::MetricFamily> ProcessMetricFamilies() {
  using prometheus::MetricType;
  std::vector<prometheus::MetricFamily> families;
  const double ticks = static_cast<double>(sysconf(_SC_CLK_TCK));
  const std::vector<std::string> stat = StatFields();
  const std::optional<double> utime = Field(stat, 14), stime = Field(stat, 15);
  if (utime.has_value() && stime.has_value() && ticks > 0) {
    families.push_back(Single("process_cpu_seconds_total",
                              "Total user and system CPU time spent in seconds.",
                              MetricType::Counter, (*utime + *stime) / ticks));
  }
  if (std::optional<double> rss = Field(stat, 24)) {
    families.push_back(Single("process_resident_memory_bytes", "Resident memory size in bytes.",
                              MetricType::Gauge,
                              *rss * static_cast<double>(sysconf(_SC_PAGESIZE))));
  }
  if (std::optional<double> vsize = Field(stat, 23)) {
    families.push_back(Single("process_virtual_memory_bytes", "Virtual memory size in bytes.",
                              MetricType::Gauge, *vsize));
  }
  std::optional<double> start = Field(stat, 22), boot = BootTimeSeconds();
  if (start.has_value() && boot.has_value() && ticks > 0) {
    families.push_back(Single("process_start_time_seconds",
                              "Start time of the process since unix epoch in seconds.",
                              MetricType::Gauge, *boot + *start / ticks));
  }
  std::error_code error;
  double open_fds = 0;
  for (std::filesystem::directory_iterator it("/proc/self/fd", error), end; !error && it != end;
       it.increment(error)) {
    ++open_fds;
  }
  if (!error) {
    families.push_back(Single("process_open_fds", "Number of open file descriptors.",
                              MetricType::Gauge, open_fds));
  }
  if (rlimit limit{}; getrlimit(RLIMIT_NOFILE, &limit) == 0) {
    families.push_back(Single("process_max_fds", "Maximum number of open file descriptors.",
                              MetricType::Gauge, static_cast<double>(limit.rlim_cur)));
  }
  return families;
}

prometheus::MetricFamily BuildInfoFamily(absl::string_view version, absl::string_view revision) {
  prometheus::ClientMetric metric;
  metric.label = {{"revision", std::string(revision)}, {"version", std::string(version)}};
  metric.gauge.value = 1;
  return prometheus::MetricFamily{"invitations_build_info",
                                  "The running build: its version and source revision; always 1.",
                                  prometheus::MetricType::Gauge,
                                  {metric}};
}

}  // namespace securelink::invitations::metrics
