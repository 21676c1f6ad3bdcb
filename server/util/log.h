// Structured one-line JSON logs on stderr. Callers never pass tokens, passwords or secrets.
#ifndef SECURELINK_SERVER_UTIL_LOG_H_
#define SECURELINK_SERVER_UTIL_LOG_H_

#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"

namespace securelink::invitations {

enum class LogLevel { kDebug, kInfo, kWarning, kError };

// A field's value as it appears in the line: numbers and booleans keep their JSON type, so a log
// pipeline can compare and sum them without parsing strings.
class LogValue {
 public:
  LogValue(absl::string_view text);  // NOLINT: a field is written as {"key", value}
  LogValue(const char* text) : LogValue(absl::string_view(text)) {}  // NOLINT
  LogValue(const std::string& text) : LogValue(absl::string_view(text)) {}  // NOLINT
  LogValue(bool value) : json_(value ? "true" : "false") {}  // NOLINT
  template <typename Integer,
            std::enable_if_t<std::is_integral_v<Integer> && !std::is_same_v<Integer, bool>, int> = 0>
  LogValue(Integer value) : json_(absl::StrCat(value)) {}  // NOLINT
  // Not finite: written as a string ("nan", "inf"), which JSON has no number for.
  LogValue(double value);  // NOLINT

  // The value as JSON text.
  const std::string& json() const { return json_; }

 private:
  std::string json_;
};

using LogFields = std::vector<std::pair<std::string, LogValue>>;

// Lines below `level` are dropped. Default kInfo.
void SetMinLogLevel(LogLevel level);

// Whether a line at `level` would be written: lets a hot path skip building its fields.
bool LogEnabled(LogLevel level);

// Writes {"time":…,"level":…,"msg":…, fields…} as one line, atomically with respect to other
// log lines.
void Log(LogLevel level, absl::string_view message, const LogFields& fields = {});

}  // namespace securelink::invitations

#endif  // SECURELINK_SERVER_UTIL_LOG_H_
