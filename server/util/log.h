// Structured one-line JSON logs on stderr. Callers never pass tokens, passwords or secrets.
#ifndef SECURELINK_SERVER_UTIL_LOG_H_
#define SECURELINK_SERVER_UTIL_LOG_H_

#include <string>
#include <utility>
#include <vector>

#include "absl/strings/string_view.h"

namespace securelink::invitations {

enum class LogLevel { kDebug, kInfo, kWarning, kError };

using LogFields = std::vector<std::pair<std::string, std::string>>;

// Lines below `level` are dropped. Default kInfo.
void SetMinLogLevel(LogLevel level);

// Whether a line at `level` would be written: lets a hot path skip building its fields.
bool LogEnabled(LogLevel level);

// Writes {"time":…,"level":…,"msg":…, fields…} as one line, atomically with respect to other
// log lines.
void Log(LogLevel level, absl::string_view message, const LogFields& fields = {});

}  // namespace securelink::invitations

#endif  // SECURELINK_SERVER_UTIL_LOG_H_
