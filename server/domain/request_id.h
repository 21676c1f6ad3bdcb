// The request id that correlates one call's log lines, audit events and emails (an operator
// greps one id across replicas, the feed and the mail log). Callers may bring their own: an
// `x-request-id` header, else the trace id of a W3C `traceparent`, so the service's lines join
// the caller's trace; otherwise the service makes one.
#ifndef SECURELINK_SERVER_DOMAIN_REQUEST_ID_H_
#define SECURELINK_SERVER_DOMAIN_REQUEST_ID_H_

#include <string>

#include "absl/strings/string_view.h"

namespace securelink::invitations {

// The metadata / header names, lower case as gRPC and HTTP/2 carry them.
inline constexpr absl::string_view kRequestIdHeader = "x-request-id";
inline constexpr absl::string_view kTraceparentHeader = "traceparent";

// Longest caller-chosen id kept (the events' and outbox's column size).
inline constexpr size_t kMaxXRequestIdLength = 64;

// The id to use for a call that sent these headers (empty: absent): `x_request_id` when it is
// 1..64 characters of [A-Za-z0-9._:-] (a UUID, a ULID, an upstream proxy's id); else the 32-hex
// trace id of a well-formed `traceparent` (version 00..fe, non-zero ids); else a new id. A
// malformed value is not an error: the call proceeds under an id of the service's own, since
// nothing the caller relies on depends on it, and a raw header never reaches a log.
std::string RequestIdFor(absl::string_view x_request_id, absl::string_view traceparent);

// A new id: 32 lower-case hex characters from the OS's random source, the shape of a W3C trace
// id, so that a caller may adopt it as one.
std::string NewRequestId();

}  // namespace securelink::invitations

#endif  // SECURELINK_SERVER_DOMAIN_REQUEST_ID_H_
