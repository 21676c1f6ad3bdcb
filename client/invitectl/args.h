// invitectl's command-line grammar: the subcommands and their flags, argv parsing, and the
// translation of parsed flags into API requests. Pure functions: no I/O, no gRPC.
#ifndef SECURELINK_CLIENT_INVITECTL_ARGS_H_
#define SECURELINK_CLIENT_INVITECTL_ARGS_H_

#include <functional>
#include <map>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "securelink/invitations/v1/invitation_service.pb.h"

namespace securelink::invitations::invitectl {

namespace v1 = ::securelink::invitations::v1;

// Exit codes of invitectl.
inline constexpr int kExitOk = 0;
inline constexpr int kExitRpcError = 1;
inline constexpr int kExitUsage = 2;
// `bulk` completed, but some addresses were invalid or failed.
inline constexpr int kExitBulkIncomplete = 3;
// The call failed in a way that may pass if tried again later as it is: the server unreachable,
// draining or overloaded, or the deadline passed (UNAVAILABLE, DEADLINE_EXCEEDED,
// RESOURCE_EXHAUSTED). Any other failure is kExitRpcError, ABORTED included: a stale etag needs a
// fresh read, not the same call again.
inline constexpr int kExitRetryLater = 4;

struct FlagSpec {
  std::string name;        // without dashes
  std::string value_name;  // empty: a boolean flag
  std::string help;
};

struct CommandSpec {
  std::string name;
  std::string arguments;  // positional arguments as shown in usage, e.g. "ID"
  int min_args = 0;
  int max_args = 0;
  std::string summary;
  std::vector<FlagSpec> flags;
};

// Every subcommand, in the order `invitectl help` lists them.
const std::vector<CommandSpec>& Commands();

// Flags every subcommand accepts (--address, --token, --json, ...).
const std::vector<FlagSpec>& GlobalFlags();

// The command named `name`, or null.
const CommandSpec* FindCommand(absl::string_view name);

// Text of `invitectl help` and of `invitectl CMD --help`.
std::string GeneralUsage();
std::string CommandUsage(const CommandSpec& command);

// A parsed command line.
struct Invocation {
  std::string command;  // a name from Commands(), or "help"
  std::vector<std::string> args;
  // Flags given, by name without dashes; booleans hold "true" or "false".
  std::map<std::string, std::string> flags;
  bool help = false;  // --help / -h: print the command's usage instead of running it

  bool Has(absl::string_view name) const;
  // The flag's value, or `fallback` when not given.
  std::string Get(absl::string_view name, absl::string_view fallback = "") const;
  bool GetBool(absl::string_view name) const;
};

// Parses argv without the program name. Accepts `--flag value`, `--flag=value`, boolean
// `--flag` / `--flag=false`, `-h`, and `--` to end flags; global flags may come before or after
// the command. Usage errors are INVALID_ARGUMENT with a message for the user.
absl::StatusOr<Invocation> ParseCommandLine(const std::vector<std::string>& argv);

// "vpn-user", "tenant-admin", "super-admin" (also VPN_USER, ROLE_VPN_USER, ...), any case.
absl::StatusOr<v1::Role> ParseRole(absl::string_view text);

// A comma-separated list of states: pending, accepted, expired, revoked (also the enum names).
absl::StatusOr<std::vector<v1::InvitationState>> ParseStates(absl::string_view text);

// A positive duration: absl syntax ("48h", "90m", "1h30m", "3600s") plus whole days ("7d").
absl::StatusOr<absl::Duration> ParseDurationFlag(absl::string_view text);

// Reads a file named on the command line ("-" is standard input).
using FileReader = std::function<absl::StatusOr<std::string>(const std::string& path)>;

// Requests built from an Invocation of the matching command. Errors are usage errors.
absl::StatusOr<v1::CreateInvitationRequest> BuildCreateRequest(const Invocation& invocation);
absl::StatusOr<v1::ListInvitationsRequest> BuildListRequest(const Invocation& invocation);
absl::StatusOr<v1::ResendInvitationRequest> BuildResendRequest(const Invocation& invocation);
absl::StatusOr<v1::RevokeInvitationRequest> BuildRevokeRequest(const Invocation& invocation);
// `policy set TENANT`: the mask names exactly the flags given.
absl::StatusOr<v1::UpdateTenantPolicyRequest> BuildPolicyUpdateRequest(
    const Invocation& invocation);
absl::StatusOr<v1::BulkInviteRequest> BuildBulkRequest(const Invocation& invocation,
                                                       const FileReader& read_file);
absl::StatusOr<v1::AcceptInvitationRequest> BuildAcceptRequest(const Invocation& invocation,
                                                               const FileReader& read_file);
absl::StatusOr<v1::WatchInvitationEventsRequest> BuildWatchRequest(const Invocation& invocation);

// How many addresses a bulk request holds, counted locally to size the progress bar (exact for
// `emails`, an estimate for `text` and `csv`).
int EstimateBulkAddresses(const v1::BulkInviteRequest& request);

}  // namespace securelink::invitations::invitectl

#endif  // SECURELINK_CLIENT_INVITECTL_ARGS_H_
