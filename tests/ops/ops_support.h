// Helpers for the operations tests: the /metrics page over real HTTP and its samples,
// and the server's JSON log lines.
#ifndef SECURELINK_TESTS_OPS_OPS_SUPPORT_H_
#define SECURELINK_TESTS_OPS_OPS_SUPPORT_H_

#include <map>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace securelink::testing::ops {

// GET http://127.0.0.1:<port><path> with libcurl. The body on a 200; UNAVAILABLE otherwise.
absl::StatusOr<std::string> HttpGet(int port, absl::string_view path = "/metrics");

// The value of the sample `name{labels}` in a Prometheus text exposition (labels must match
// exactly, in any order), or nullopt when no such sample exists.
std::optional<double> Sample(absl::string_view exposition, absl::string_view name,
                             const std::map<std::string, std::string>& labels = {});

// The label sets of every sample named `name`.
std::vector<std::map<std::string, std::string>> LabelSets(absl::string_view exposition,
                                                         absl::string_view name);

// The log's lines that are not ServerProcess's "--- path" separators and not empty.
std::vector<std::string> LogLines(absl::string_view log);

}  // namespace securelink::testing::ops

#endif  // SECURELINK_TESTS_OPS_OPS_SUPPORT_H_
