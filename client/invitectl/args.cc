#include "args.h"

#include <algorithm>
#include <cstdint>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"

namespace securelink::invitations::invitectl {
namespace {

absl::Status Usage(absl::string_view message) { return absl::InvalidArgumentError(message); }

const std::vector<FlagSpec>& ListFlags() {
  static const auto* flags = new std::vector<FlagSpec>{
      {"tenant", "T", "only this tenant's invitations"},
      {"state", "S,...", "pending, accepted, expired, revoked (any of them; default all)"},
      {"email-query", "Q", "case-insensitive substring of the email"},
      {"page-size", "N", "invitations per page (server default 50, at most 500)"},
      {"page-token", "X", "continue from a previous page's next page token"},
      {"all", "", "follow next page tokens to the end"},
  };
  return *flags;
}

}  // namespace

const std::vector<FlagSpec>& GlobalFlags() {
  static const auto* flags = new std::vector<FlagSpec>{
      {"address", "HOST:PORT",
       "server address (default $INVITATIONS_ADDRESS, else 127.0.0.1:50051)"},
      {"token", "JWT", "bearer token (default $INVITATIONS_TOKEN)"},
      {"token-file", "FILE",
       "read the bearer token from FILE before each call, again whenever it changes (default "
       "$INVITATIONS_TOKEN_FILE)"},
      {"token-url", "URL",
       "get tokens by the client-credentials grant from this endpoint, refreshed ahead of "
       "expiry; with --client-id, the secret from $INVITATIONS_CLIENT_SECRET or "
       "--client-secret-file"},
      {"client-id", "ID", "the client of --token-url"},
      {"client-secret-file", "FILE", "the secret of --client-id (default $INVITATIONS_CLIENT_SECRET)"},
      {"deadline", "DURATION", "deadline of each call (default 10s; bulk 10m; watch none)"},
      {"tls", "", "use TLS with the system's root certificates"},
      {"ca-file", "FILE", "use TLS trusting the PEM certificates in FILE"},
      {"cert-file", "FILE", "use TLS presenting the PEM client certificate in FILE (mutual TLS)"},
      {"key-file", "FILE", "the PEM private key of --cert-file"},
      {"tls-server-name", "NAME",
       "with TLS: the name the server's certificate must carry (default: the address's host)"},
      {"json", "", "print responses as protobuf JSON"},
      {"help", "", "print this command's usage"},
  };
  return *flags;
}

const std::vector<CommandSpec>& Commands() {
  static const auto* commands = new std::vector<CommandSpec>{
      {"create",
       "",
       0,
       0,
       "invite one email address",
       {{"email", "ADDRESS", "the invitee's email (required)"},
        {"role", "ROLE", "vpn-user, tenant-admin or super-admin (required)"},
        {"tenant", "T", "tenant id (required unless super-admin)"},
        {"ttl", "DURATION", "link lifetime, e.g. 48h or 7d (default: the server's)"},
        {"request-id", "X", "idempotency key (default: a random UUID)"},
        {"suppress-email", "", "create without emailing; deliver the URL yourself"}}},
      {"get", "ID", 1, 1, "show one invitation", {}},
      {"list", "", 0, 0, "list invitations, newest first", ListFlags()},
      {"resend",
       "ID",
       1,
       1,
       "issue a fresh link and expiry, and email it",
       {{"ttl", "DURATION", "new link lifetime (default: the server's)"}}},
      {"revoke",
       "ID",
       1,
       1,
       "revoke a pending invitation (irreversible)",
       {{"reason", "R", "why, recorded with the invitation"}}},
      {"bulk",
       "",
       0,
       0,
       "invite many addresses with one role and tenant",
       {{"csv", "FILE", "an RFC 4180 CSV file with an email column (- for stdin)"},
        {"text", "FILE", "addresses one per line or separated by , or ; (- for stdin)"},
        {"emails", "A,B,...", "addresses given inline"},
        {"role", "ROLE", "vpn-user, tenant-admin or super-admin (required)"},
        {"tenant", "T", "tenant id (required unless super-admin)"},
        {"ttl", "DURATION", "link lifetime (default: the server's)"},
        {"validate-only", "", "decide every outcome but create nothing"},
        {"suppress-email", "", "create without emailing"}}},
      {"policy",
       "get|set TENANT",
       2,
       2,
       "show or change a tenant's policy (set changes only the flags given)",
       {{"domains", "A,B,...", "allowed email domains (\"\" allows any)"},
        {"max-pending", "N", "most pending invitations at once (0: no limit)"},
        {"default-ttl", "DURATION", "link lifetime when a request gives none (\"\": the server's)"},
        {"reminder", "DURATION", "reminder email this long before expiry (0: none)"},
        {"locale", "TAG", "default language, BCP 47 (\"\": English)"},
        {"etag", "E", "only if the policy is still the one read with this etag"}}},
      {"validate", "TOKEN", 1, 1, "check a registration token without using it", {}},
      {"accept",
       "TOKEN",
       1,
       1,
       "accept an invitation and create the account",
       {{"password-file", "FILE", "file holding the new password (- for stdin) (required)"},
        {"first-name", "NAME", "(required)"},
        {"last-name", "NAME", "(required)"},
        {"username", "NAME", "login name (default: the invited email)"}}},
      {"events",
       "",
       0,
       0,
       "print the recorded invitation events after a position (the audit trail)",
       {{"tenant", "T", "only this tenant's events"},
        {"after", "EVENT_ID",
         "start after this event (default: from now; 0: from the oldest kept)"},
        {"follow", "", "keep following new events until interrupted"}}},
      {"watch",
       "",
       0,
       0,
       "follow the invitation event feed until interrupted (events --follow)",
       {{"tenant", "T", "only this tenant's events"},
        {"after", "EVENT_ID", "replay the events after this one first (default: from now)"}}},
      {"services", "", 0, 0, "list the server's gRPC services (server reflection)", {}},
      {"health",
       "",
       0,
       0,
       "ask grpc.health.v1 whether the service is SERVING (exit 0) or not (exit 1)",
       {{"service", "NAME",
         "service to ask about (default securelink.invitations.v1.InvitationService; \"\" for "
         "the whole server)"}}},
      {"help", "[COMMAND]", 0, 1, "print usage", {}},
  };
  return *commands;
}

const CommandSpec* FindCommand(absl::string_view name) {
  for (const CommandSpec& command : Commands()) {
    if (command.name == name) return &command;
  }
  return nullptr;
}

namespace {

std::string FlagLines(const std::vector<FlagSpec>& flags) {
  size_t width = 0;
  std::vector<std::string> heads;
  for (const FlagSpec& flag : flags) {
    heads.push_back(absl::StrCat(
        "--", flag.name, flag.value_name.empty() ? "" : absl::StrCat(" ", flag.value_name)));
    width = std::max(width, heads.back().size());
  }
  std::string out;
  for (size_t i = 0; i < flags.size(); ++i) {
    absl::StrAppend(&out, "  ", heads[i], std::string(width - heads[i].size() + 2, ' '),
                    flags[i].help, "\n");
  }
  return out;
}

}  // namespace

std::string GeneralUsage() {
  std::string out =
      "usage: invitectl COMMAND [ARGS] [FLAGS]\n"
      "\n"
      "Manages SecureLink invitations through the Invitation Service's gRPC API.\n"
      "\n"
      "commands:\n";
  for (const CommandSpec& command : Commands()) {
    const std::string head =
        absl::StrCat(command.name, command.arguments.empty() ? "" : " ", command.arguments);
    absl::StrAppend(&out, "  ", head, std::string(head.size() < 18 ? 18 - head.size() : 1, ' '),
                    command.summary, "\n");
  }
  absl::StrAppend(&out, "\nflags of every command:\n", FlagLines(GlobalFlags()),
                  "\n"
                  "exit codes: 0 ok, 1 the call was refused (or health: not SERVING), 2 usage\n"
                  "error, 3 bulk finished but some addresses were invalid or failed, 4 the call\n"
                  "failed but may pass later (unreachable, UNAVAILABLE, DEADLINE_EXCEEDED,\n"
                  "RESOURCE_EXHAUSTED): retry with backoff.\n"
                  "Run `invitectl COMMAND --help` for a command's flags.\n");
  return out;
}

std::string CommandUsage(const CommandSpec& command) {
  std::string out = absl::StrCat(
      "usage: invitectl ", command.name, command.arguments.empty() ? "" : " ", command.arguments,
      command.flags.empty() ? "" : " [FLAGS]", "\n\n", command.summary, "\n");
  if (!command.flags.empty()) absl::StrAppend(&out, "\nflags:\n", FlagLines(command.flags));
  absl::StrAppend(&out, "\nflags of every command:\n", FlagLines(GlobalFlags()));
  return out;
}

bool Invocation::Has(absl::string_view name) const { return flags.count(std::string(name)) > 0; }

std::string Invocation::Get(absl::string_view name, absl::string_view fallback) const {
  auto it = flags.find(std::string(name));
  return it == flags.end() ? std::string(fallback) : it->second;
}

bool Invocation::GetBool(absl::string_view name) const { return Get(name) == "true"; }

namespace {

const FlagSpec* FindFlag(const std::vector<FlagSpec>& flags, absl::string_view name) {
  for (const FlagSpec& flag : flags) {
    if (flag.name == name) return &flag;
  }
  return nullptr;
}

}  // namespace

absl::StatusOr<Invocation> ParseCommandLine(const std::vector<std::string>& argv) {
  Invocation invocation;
  // Flags seen before the command name; checked once the command is known.
  std::vector<std::pair<std::string, std::string>> pending;  // raw name, inline value or "\0"
  const CommandSpec* command = nullptr;
  bool flags_ended = false;

  for (size_t i = 0; i < argv.size(); ++i) {
    const std::string& arg = argv[i];
    // Flags are spelled --name (and -h). Any other word starting with one dash is an argument:
    // registration tokens are base64url, so one in 32 starts with '-', and echoing it back in an
    // "unknown flag" error would put the secret on the terminal.
    const bool is_flag = !flags_ended && (absl::StartsWith(arg, "--") || arg == "-h");
    if (!is_flag) {
      if (command == nullptr) {
        command = FindCommand(arg);
        if (command == nullptr) {
          return Usage(absl::StrCat("unknown command \"", arg, "\" (see `invitectl help`)"));
        }
        invocation.command = command->name;
      } else {
        invocation.args.push_back(arg);
      }
      continue;
    }
    if (arg == "--") {
      flags_ended = true;
      continue;
    }
    if (arg == "-h") {
      invocation.help = true;
      continue;
    }
    std::string name = arg.substr(2);
    std::string value;
    bool has_inline_value = false;
    if (const size_t eq = name.find('='); eq != std::string::npos) {
      value = name.substr(eq + 1);
      name.resize(eq);
      has_inline_value = true;
    }
    const FlagSpec* spec = FindFlag(GlobalFlags(), name);
    if (spec == nullptr && command != nullptr) spec = FindFlag(command->flags, name);
    if (spec == nullptr) {
      // A command flag given before the command: look it up among all commands' flags for
      // now; it is checked against the command below.
      bool known_somewhere = false;
      if (command == nullptr) {
        for (const CommandSpec& candidate : Commands()) {
          if (const FlagSpec* found = FindFlag(candidate.flags, name)) {
            spec = found;
            known_somewhere = true;
            break;
          }
        }
      }
      if (!known_somewhere) {
        return Usage(absl::StrCat(
            "unknown flag --", name,
            command != nullptr ? absl::StrCat(" for `", command->name, "`") : std::string(),
            " (see `invitectl ", command != nullptr ? command->name + " --help" : "help", "`)"));
      }
      pending.emplace_back(name, "");
    }
    if (spec->value_name.empty()) {
      if (!has_inline_value) value = "true";
      const std::string lowered = absl::AsciiStrToLower(value);
      if (lowered == "true" || lowered == "1" || lowered == "yes") {
        value = "true";
      } else if (lowered == "false" || lowered == "0" || lowered == "no") {
        value = "false";
      } else {
        return Usage(
            absl::StrCat("--", name, " takes no value (or true/false), got \"", value, "\""));
      }
    } else if (!has_inline_value) {
      if (i + 1 >= argv.size()) {
        return Usage(absl::StrCat("--", name, " needs a value (", spec->value_name, ")"));
      }
      value = argv[++i];
    }
    if (name == "help") {
      invocation.help = value == "true";
      continue;
    }
    invocation.flags[name] = value;
  }

  if (command == nullptr) {
    invocation.command = "help";
    return invocation;
  }
  for (const auto& [name, unused] : pending) {
    if (FindFlag(command->flags, name) == nullptr) {
      return Usage(absl::StrCat("unknown flag --", name, " for `", command->name,
                                "` (see `invitectl ", command->name, " --help`)"));
    }
  }
  if (invocation.help) return invocation;
  const int count = static_cast<int>(invocation.args.size());
  if (count < command->min_args) {
    return Usage(absl::StrCat("`", command->name, "` needs ", command->arguments,
                              " (see `invitectl ", command->name, " --help`)"));
  }
  if (count > command->max_args) {
    return Usage(absl::StrCat("unexpected argument \"", invocation.args[command->max_args],
                              "\" for `", command->name, "`"));
  }
  return invocation;
}

absl::StatusOr<v1::Role> ParseRole(absl::string_view text) {
  std::string key = absl::AsciiStrToLower(absl::StripAsciiWhitespace(text));
  std::replace(key.begin(), key.end(), '_', '-');
  if (absl::StartsWith(key, "role-")) key.erase(0, 5);
  if (key == "super-admin" || key == "superadmin") return v1::ROLE_SUPER_ADMIN;
  if (key == "tenant-admin" || key == "tenantadmin") return v1::ROLE_TENANT_ADMIN;
  if (key == "vpn-user" || key == "vpnuser") return v1::ROLE_VPN_USER;
  return Usage(
      absl::StrCat("unknown role \"", text, "\": use vpn-user, tenant-admin or super-admin"));
}

absl::StatusOr<std::vector<v1::InvitationState>> ParseStates(absl::string_view text) {
  std::vector<v1::InvitationState> states;
  for (absl::string_view part : absl::StrSplit(text, ',', absl::SkipWhitespace())) {
    std::string key = absl::AsciiStrToLower(absl::StripAsciiWhitespace(part));
    if (absl::StartsWith(key, "invitation_state_")) key.erase(0, 17);
    v1::InvitationState state;
    if (key == "pending") {
      state = v1::INVITATION_STATE_PENDING;
    } else if (key == "accepted") {
      state = v1::INVITATION_STATE_ACCEPTED;
    } else if (key == "expired") {
      state = v1::INVITATION_STATE_EXPIRED;
    } else if (key == "revoked") {
      state = v1::INVITATION_STATE_REVOKED;
    } else {
      return Usage(
          absl::StrCat("unknown state \"", part, "\": use pending, accepted, expired or revoked"));
    }
    if (std::find(states.begin(), states.end(), state) == states.end()) states.push_back(state);
  }
  if (states.empty()) return Usage("--state needs at least one state");
  return states;
}

absl::StatusOr<absl::Duration> ParseDurationFlag(absl::string_view text) {
  const absl::string_view trimmed = absl::StripAsciiWhitespace(text);
  absl::Duration duration;
  int64_t days = 0;
  absl::string_view digits = trimmed;
  if (absl::ConsumeSuffix(&digits, "d") && absl::SimpleAtoi(digits, &days) && days >= 0 &&
      days < 100000) {
    duration = absl::Hours(24 * days);
  } else if (!absl::ParseDuration(trimmed, &duration) || duration == absl::InfiniteDuration()) {
    return Usage(absl::StrCat("bad duration \"", text, "\": use e.g. 48h, 90m, 1h30m or 7d"));
  }
  if (duration <= absl::ZeroDuration()) {
    return Usage(absl::StrCat("duration \"", text, "\" must be positive"));
  }
  return duration;
}

namespace {

void SetDuration(absl::Duration d, google::protobuf::Duration* out) {
  const int64_t seconds = absl::IDivDuration(d, absl::Seconds(1), &d);
  out->set_seconds(seconds);
  out->set_nanos(static_cast<int32_t>(absl::ToInt64Nanoseconds(d)));
}

// Sets request.ttl from --ttl when given, and leaves the field absent otherwise (an absent ttl
// means the server's default; touching mutable_ttl() would send an explicit zero).
template <typename Request>
absl::Status MaybeSetTtl(const Invocation& invocation, Request& request) {
  if (!invocation.Has("ttl")) return absl::OkStatus();
  absl::StatusOr<absl::Duration> ttl = ParseDurationFlag(invocation.Get("ttl"));
  if (!ttl.ok()) return Usage(absl::StrCat("--ttl: ", ttl.status().message()));
  SetDuration(*ttl, request.mutable_ttl());
  return absl::OkStatus();
}

absl::StatusOr<std::string> Required(const Invocation& invocation, absl::string_view flag) {
  std::string value = invocation.Get(flag);
  if (value.empty()) {
    return Usage(absl::StrCat("`", invocation.command, "` needs --", flag, " (see `invitectl ",
                              invocation.command, " --help`)"));
  }
  return value;
}

absl::StatusOr<v1::Role> RequiredRole(const Invocation& invocation) {
  absl::StatusOr<std::string> text = Required(invocation, "role");
  if (!text.ok()) return text.status();
  return ParseRole(*text);
}

}  // namespace

absl::StatusOr<v1::CreateInvitationRequest> BuildCreateRequest(const Invocation& invocation) {
  v1::CreateInvitationRequest request;
  absl::StatusOr<std::string> email = Required(invocation, "email");
  if (!email.ok()) return email.status();
  absl::StatusOr<v1::Role> role = RequiredRole(invocation);
  if (!role.ok()) return role.status();
  request.set_email(*email);
  request.set_role(*role);
  request.set_tenant_id(invocation.Get("tenant"));
  if (absl::Status s = MaybeSetTtl(invocation, request); !s.ok()) return s;
  request.set_request_id(invocation.Get("request-id"));
  request.set_suppress_email(invocation.GetBool("suppress-email"));
  return request;
}

absl::StatusOr<v1::ListInvitationsRequest> BuildListRequest(const Invocation& invocation) {
  v1::ListInvitationsRequest request;
  request.set_tenant_id(invocation.Get("tenant"));
  if (invocation.Has("state")) {
    absl::StatusOr<std::vector<v1::InvitationState>> states = ParseStates(invocation.Get("state"));
    if (!states.ok()) return states.status();
    for (v1::InvitationState state : *states) request.add_states(state);
  }
  request.set_email_query(invocation.Get("email-query"));
  if (invocation.Has("page-size")) {
    int page_size = 0;
    if (!absl::SimpleAtoi(invocation.Get("page-size"), &page_size) || page_size <= 0) {
      return Usage(absl::StrCat("--page-size must be a positive number, got \"",
                                invocation.Get("page-size"), "\""));
    }
    request.set_page_size(page_size);
  }
  request.set_page_token(invocation.Get("page-token"));
  return request;
}

absl::StatusOr<v1::ResendInvitationRequest> BuildResendRequest(const Invocation& invocation) {
  v1::ResendInvitationRequest request;
  request.set_id(invocation.args.at(0));
  if (absl::Status s = MaybeSetTtl(invocation, request); !s.ok()) return s;
  return request;
}

absl::StatusOr<v1::RevokeInvitationRequest> BuildRevokeRequest(const Invocation& invocation) {
  v1::RevokeInvitationRequest request;
  request.set_id(invocation.args.at(0));
  request.set_reason(invocation.Get("reason"));
  return request;
}

absl::StatusOr<v1::UpdateTenantPolicyRequest> BuildPolicyUpdateRequest(
    const Invocation& invocation) {
  v1::UpdateTenantPolicyRequest request;
  v1::TenantPolicy* policy = request.mutable_policy();
  policy->set_tenant_id(invocation.args.at(1));
  policy->set_etag(invocation.Get("etag"));
  auto mask = [&](const char* path) { request.mutable_update_mask()->add_paths(path); };
  if (invocation.Has("domains")) {
    for (absl::string_view d : absl::StrSplit(invocation.Get("domains"), ',', absl::SkipWhitespace())) {
      policy->add_allowed_email_domains(std::string(absl::StripAsciiWhitespace(d)));
    }
    mask("allowed_email_domains");
  }
  if (invocation.Has("max-pending")) {
    int n = 0;
    if (!absl::SimpleAtoi(invocation.Get("max-pending"), &n)) {
      return Usage("--max-pending needs a whole number (0: no limit)");
    }
    policy->set_max_pending_invitations(n);
    mask("max_pending_invitations");
  }
  if (invocation.Has("default-ttl")) {
    if (!invocation.Get("default-ttl").empty()) {
      absl::StatusOr<absl::Duration> ttl = ParseDurationFlag(invocation.Get("default-ttl"));
      if (!ttl.ok()) return Usage(absl::StrCat("--default-ttl: ", ttl.status().message()));
      policy->mutable_default_ttl()->set_seconds(absl::ToInt64Seconds(*ttl));
    }
    mask("default_ttl");
  }
  if (invocation.Has("reminder")) {
    if (invocation.Get("reminder") != "0") {
      absl::StatusOr<absl::Duration> reminder = ParseDurationFlag(invocation.Get("reminder"));
      if (!reminder.ok()) return Usage(absl::StrCat("--reminder: ", reminder.status().message()));
      policy->mutable_reminder_before_expiry()->set_seconds(absl::ToInt64Seconds(*reminder));
    }
    mask("reminder_before_expiry");
  }
  if (invocation.Has("locale")) {
    policy->set_default_locale(invocation.Get("locale"));
    mask("default_locale");
  }
  if (request.update_mask().paths().empty()) {
    return Usage("`policy set` needs at least one of --domains, --max-pending, --default-ttl, "
                 "--reminder or --locale");
  }
  return request;
}

absl::StatusOr<v1::BulkInviteRequest> BuildBulkRequest(const Invocation& invocation,
                                                       const FileReader& read_file) {
  const int sources = static_cast<int>(invocation.Has("csv")) +
                      static_cast<int>(invocation.Has("text")) +
                      static_cast<int>(invocation.Has("emails"));
  if (sources != 1) {
    return Usage("`bulk` needs exactly one of --csv FILE, --text FILE or --emails A,B,...");
  }
  v1::BulkInviteRequest request;
  if (invocation.Has("emails")) {
    for (absl::string_view email :
         absl::StrSplit(invocation.Get("emails"), ',', absl::SkipWhitespace())) {
      request.mutable_emails()->add_emails(std::string(absl::StripAsciiWhitespace(email)));
    }
    if (request.emails().emails_size() == 0) return Usage("--emails lists no address");
  } else {
    const std::string flag = invocation.Has("csv") ? "csv" : "text";
    absl::StatusOr<std::string> content = read_file(invocation.Get(flag));
    if (!content.ok()) {
      return Usage(absl::StrCat("--", flag, ": ", content.status().message()));
    }
    if (flag == "csv") {
      request.set_csv(*std::move(content));
    } else {
      request.set_text(*std::move(content));
    }
  }
  absl::StatusOr<v1::Role> role = RequiredRole(invocation);
  if (!role.ok()) return role.status();
  request.set_role(*role);
  request.set_tenant_id(invocation.Get("tenant"));
  if (absl::Status s = MaybeSetTtl(invocation, request); !s.ok()) return s;
  request.set_validate_only(invocation.GetBool("validate-only"));
  request.set_suppress_email(invocation.GetBool("suppress-email"));
  return request;
}

absl::StatusOr<v1::AcceptInvitationRequest> BuildAcceptRequest(const Invocation& invocation,
                                                               const FileReader& read_file) {
  v1::AcceptInvitationRequest request;
  request.set_token(invocation.args.at(0));
  absl::StatusOr<std::string> password_file = Required(invocation, "password-file");
  if (!password_file.ok()) return password_file.status();
  absl::StatusOr<std::string> first_name = Required(invocation, "first-name");
  if (!first_name.ok()) return first_name.status();
  absl::StatusOr<std::string> last_name = Required(invocation, "last-name");
  if (!last_name.ok()) return last_name.status();
  absl::StatusOr<std::string> password = read_file(*password_file);
  if (!password.ok()) {
    return Usage(absl::StrCat("--password-file: ", password.status().message()));
  }
  // The password is the file's first line: editors and `echo` add a final newline.
  std::string first_line(absl::string_view(*password).substr(0, password->find('\n')));
  if (!first_line.empty() && first_line.back() == '\r') first_line.pop_back();
  if (first_line.empty()) return Usage("--password-file: the file's first line is empty");
  request.set_password(std::move(first_line));
  request.set_first_name(*first_name);
  request.set_last_name(*last_name);
  request.set_username(invocation.Get("username"));
  return request;
}

absl::StatusOr<v1::WatchInvitationEventsRequest> BuildWatchRequest(const Invocation& invocation) {
  v1::WatchInvitationEventsRequest request;
  request.set_tenant_id(invocation.Get("tenant"));
  request.set_after_event_id(invocation.Get("after"));
  // `events` without --follow stops once the events recorded before the call are printed.
  request.set_replay_only(invocation.command == "events" && !invocation.GetBool("follow"));
  return request;
}

int EstimateBulkAddresses(const v1::BulkInviteRequest& request) {
  auto count_items = [](absl::string_view text, absl::string_view delimiters) {
    int n = 0;
    for (absl::string_view item : absl::StrSplit(text, absl::ByAnyChar(delimiters))) {
      if (!absl::StripAsciiWhitespace(item).empty()) ++n;
    }
    return n;
  };
  switch (request.source_case()) {
    case v1::BulkInviteRequest::kEmails:
      return request.emails().emails_size();
    case v1::BulkInviteRequest::kText:
      return count_items(request.text(), "\n,;");
    case v1::BulkInviteRequest::kCsv: {
      int lines = count_items(request.csv(), "\n");
      // An `email` header line is not an address.
      const std::string first_line = absl::AsciiStrToLower(
          absl::string_view(request.csv()).substr(0, request.csv().find('\n')));
      if (lines > 0 && absl::StrContains(first_line, "email") &&
          !absl::StrContains(first_line, '@')) {
        --lines;
      }
      return lines;
    }
    case v1::BulkInviteRequest::SOURCE_NOT_SET:
      break;
  }
  return 0;
}

}  // namespace securelink::invitations::invitectl
