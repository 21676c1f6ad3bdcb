#include "server/domain/errors.h"

#include <optional>
#include <string>

#include "absl/strings/cord.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_replace.h"
#include "absl/strings/str_split.h"

namespace securelink::invitations {
namespace {

// Payload key: the details travel inside the Status so that no layer needs to know gRPC.
constexpr absl::string_view kDetailsPayloadUrl = "type.securelink.io/invitations.ErrorDetails";

// Line-oriented encoding: tabs and newlines inside values are replaced, which is harmless for
// field names, reasons and the human-readable descriptions stored here.
std::string Clean(absl::string_view s) {
  return absl::StrReplaceAll(s, {{"\t", " "}, {"\n", " "}, {"\r", " "}});
}

void Attach(absl::Status& status, const ErrorDetails& details) {
  std::string encoded = "r\t" + Clean(details.reason) + "\n";
  for (const auto& [key, value] : details.metadata) {
    absl::StrAppend(&encoded, "m\t", Clean(key), "\t", Clean(value), "\n");
  }
  for (const FieldViolation& v : details.field_violations) {
    absl::StrAppend(&encoded, "f\t", Clean(v.field), "\t", Clean(v.description), "\n");
  }
  if (details.retry_delay.has_value()) {
    absl::StrAppend(&encoded, "d\t", absl::ToInt64Microseconds(*details.retry_delay), "\n");
  }
  status.SetPayload(kDetailsPayloadUrl, absl::Cord(encoded));
}

}  // namespace

absl::Status InvalidFields(std::vector<FieldViolation> violations) {
  std::vector<std::string> parts;
  parts.reserve(violations.size());
  for (const FieldViolation& v : violations) {
    parts.push_back(absl::StrCat(v.field, ": ", v.description));
  }
  absl::Status status = absl::InvalidArgumentError(absl::StrJoin(parts, "; "));
  ErrorDetails details;
  details.field_violations = std::move(violations);
  Attach(status, details);
  return status;
}

absl::Status InvalidField(absl::string_view field, absl::string_view description) {
  return InvalidFields({FieldViolation{std::string(field), std::string(description)}});
}

absl::Status InvalidFieldWithReason(absl::string_view field, absl::string_view description,
                                    absl::string_view reason) {
  absl::Status status = absl::InvalidArgumentError(absl::StrCat(field, ": ", description));
  ErrorDetails details;
  details.reason = std::string(reason);
  details.field_violations = {FieldViolation{std::string(field), std::string(description)}};
  Attach(status, details);
  return status;
}

absl::Status ReasonedError(absl::StatusCode code, absl::string_view message,
                           absl::string_view reason,
                           std::vector<std::pair<std::string, std::string>> metadata) {
  absl::Status status(code, message);
  ErrorDetails details;
  details.reason = std::string(reason);
  details.metadata = std::move(metadata);
  Attach(status, details);
  return status;
}

absl::Status WithRetryDelay(absl::Status status, absl::Duration delay) {
  if (status.ok()) return status;
  ErrorDetails details = GetErrorDetails(status);
  details.retry_delay = delay;
  Attach(status, details);
  return status;
}

ErrorDetails GetErrorDetails(const absl::Status& status) {
  ErrorDetails details;
  auto payload = status.GetPayload(kDetailsPayloadUrl);
  if (!payload.has_value()) return details;
  std::string encoded(*payload);
  for (absl::string_view line : absl::StrSplit(encoded, '\n', absl::SkipEmpty())) {
    std::vector<std::string> cols = absl::StrSplit(line, '\t');
    if (cols[0] == "r" && cols.size() >= 2) {
      details.reason = cols[1];
    } else if (cols[0] == "m" && cols.size() >= 3) {
      details.metadata.emplace_back(cols[1], cols[2]);
    } else if (cols[0] == "f" && cols.size() >= 3) {
      details.field_violations.push_back(FieldViolation{cols[1], cols[2]});
    } else if (int64_t micros = 0;
               cols[0] == "d" && cols.size() >= 2 && absl::SimpleAtoi(cols[1], &micros)) {
      details.retry_delay = absl::Microseconds(micros);
    }
  }
  return details;
}

std::string ReasonOf(const absl::Status& status) { return GetErrorDetails(status).reason; }

}  // namespace securelink::invitations
