// What every Prometheus client library exports about its process, and which build it is, read
// at each scrape: dashboards and alerts written for other services work on this one unchanged.
#ifndef SECURELINK_SERVER_METRICS_PROCESS_METRICS_H_
#define SECURELINK_SERVER_METRICS_PROCESS_METRICS_H_

#include <prometheus/metric_family.h>

#include <vector>

#include "absl/strings/string_view.h"

namespace securelink::invitations::metrics {

// process_cpu_seconds_total, process_resident_memory_bytes, process_virtual_memory_bytes,
// process_open_fds, process_max_fds and process_start_time_seconds, from /proc/self (Linux).
// A value that cannot be read is left out rather than reported as 0.
std::vector<prometheus::MetricFamily> ProcessMetricFamilies();

// invitations_build_info{version, revision} 1.
prometheus::MetricFamily BuildInfoFamily(absl::string_view version, absl::string_view revision);

}  // namespace securelink::invitations::metrics

#endif  // SECURELINK_SERVER_METRICS_PROCESS_METRICS_H_
