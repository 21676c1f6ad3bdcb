// Reads a serialized BulkInviteRequest (SPEC §3) straight from its wire bytes for the raw
// BulkInvite handler. Unlike parsing the generated message it keeps no more of an email list than
// BulkInviter::Plan looks at, so a 4 MiB list of empty strings costs what --bulk_max_addresses
// allows rather than two million strings (SPEC §10). Knows protobuf's wire format, not gRPC.
#ifndef SECURELINK_SERVER_GRPC_BULK_INVITE_WIRE_H_
#define SECURELINK_SERVER_GRPC_BULK_INVITE_WIRE_H_

#include <google/protobuf/io/zero_copy_stream.h>

#include <cstddef>

#include "absl/status/statusor.h"
#include "server/bulk_invite.h"

namespace securelink::invitations {

// Reads the securelink.invitations.v1.BulkInviteRequest in `in` to its end. The result is what
// parsing the generated message and copying its fields would give (the last value of a field
// wins, a later source replaces an earlier one, repeated `emails` lists are concatenated, an
// unknown role value is Role::kUnspecified), except that at most `max_list_entries` + 1 list
// elements are kept: one more than allowed is all Plan needs to refuse the list, and the elements
// after it are skipped unread. Blank elements are kept and counted, as Plan reports them.
//
// INVALID_ARGUMENT for malformed wire data; for a string field that is not UTF-8 (naming it, where
// the generated parser would refuse the whole message); and for a field this server does not
// define (naming its number): a client that sets a field expects it to mean something, and
// ignoring it could invite people in a way the caller did not ask for.
absl::StatusOr<BulkInviteInput> ReadBulkInviteRequest(
    google::protobuf::io::ZeroCopyInputStream& in, size_t max_list_entries);

}  // namespace securelink::invitations

#endif  // SECURELINK_SERVER_GRPC_BULK_INVITE_WIRE_H_
