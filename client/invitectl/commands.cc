#include "commands.h"

#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <iostream>
#include <iterator>
#include <map>
#include <sstream>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "format.h"
#include "grpc_glue.h"
#include "absl/strings/ascii.h"
#include "securelink/invitations/client.h"
#include "securelink/invitations/token_sources.h"

namespace securelink::invitations::invitectl {
namespace {

using client::ClientCredentialsOptions;
using client::ClientCredentialsToken;
using client::ClientOptions;
using client::InvitationClient;
using client::TokenFile;

int UsageError(std::ostream& err, absl::string_view message) {
  err << "error: " << message << "\n";
  return kExitUsage;
}

int RpcError(std::ostream& err, const absl::Status& status) {
  err << FormatError(status);
  switch (status.code()) {
    case absl::StatusCode::kUnavailable:
    case absl::StatusCode::kDeadlineExceeded:
    case absl::StatusCode::kResourceExhausted:
      return kExitRetryLater;
    default:
      return kExitRpcError;
  }
}

// Where the bearer token comes from: --token, --token-file or --token-url (one of them), else
// $INVITATIONS_TOKEN, else $INVITATIONS_TOKEN_FILE. A token read from a file or fetched from
// Keycloak is asked for before each call, so a long `watch` outlives any one token.
absl::Status ChooseTokenSource(const Invocation& invocation, const Environment& env,
                               ClientOptions* options) {
  const int given = invocation.Has("token") + invocation.Has("token-file") +
                    invocation.Has("token-url");
  if (given > 1) {
    return absl::InvalidArgumentError("--token, --token-file and --token-url exclude each other");
  }
  if ((invocation.Has("client-id") || invocation.Has("client-secret-file")) &&
      !invocation.Has("token-url")) {
    return absl::InvalidArgumentError("--client-id and --client-secret-file need --token-url");
  }
  if (invocation.Has("token")) {
    options->bearer_token = invocation.Get("token");
  } else if (invocation.Has("token-file")) {
    options->token_source = TokenFile(invocation.Get("token-file"));
  } else if (invocation.Has("token-url")) {
    ClientCredentialsOptions grant;
    grant.token_url = invocation.Get("token-url");
    grant.client_id = invocation.Get("client-id");
    if (grant.client_id.empty()) return absl::InvalidArgumentError("--token-url needs --client-id");
    if (invocation.Has("client-secret-file")) {
      absl::StatusOr<std::string> secret = env.read_file(invocation.Get("client-secret-file"));
      if (!secret.ok()) {
        return absl::InvalidArgumentError(
            absl::StrCat("--client-secret-file: ", secret.status().message()));
      }
      grant.client_secret = std::string(absl::StripAsciiWhitespace(*secret));
    } else {
      grant.client_secret = env.getenv("INVITATIONS_CLIENT_SECRET").value_or("");
    }
    if (grant.client_secret.empty()) {
      return absl::InvalidArgumentError(
          "--token-url needs the client's secret in $INVITATIONS_CLIENT_SECRET or "
          "--client-secret-file (never on the command line, where ps shows it)");
    }
    if (invocation.Has("ca-file")) grant.ca_file = invocation.Get("ca-file");
    options->token_source = ClientCredentialsToken(std::move(grant));
  } else if (std::optional<std::string> token = env.getenv("INVITATIONS_TOKEN");
             token.has_value() && !token->empty()) {
    options->bearer_token = *token;
  } else if (std::optional<std::string> file = env.getenv("INVITATIONS_TOKEN_FILE");
             file.has_value() && !file->empty()) {
    options->token_source = TokenFile(*file);
  }
  return absl::OkStatus();
}

// The client options from global flags and the environment; errors are usage errors.
absl::StatusOr<ClientOptions> MakeOptions(const Invocation& invocation, const Environment& env) {
  ClientOptions options;
  std::optional<std::string> address = env.getenv("INVITATIONS_ADDRESS");
  options.target = invocation.Get(
      "address", address.has_value() && !address->empty() ? *address : kDefaultAddress);
  absl::Status credentials = ChooseTokenSource(invocation, env, &options);
  if (!credentials.ok()) return credentials;
  options.user_agent = "invitectl/0.1";
  if (invocation.Has("deadline")) {
    absl::StatusOr<absl::Duration> deadline = ParseDurationFlag(invocation.Get("deadline"));
    if (!deadline.ok()) {
      return absl::InvalidArgumentError(absl::StrCat("--deadline: ", deadline.status().message()));
    }
    options.deadline = *deadline;
    options.bulk_deadline = *deadline;
  }
  if (invocation.Has("cert-file") != invocation.Has("key-file")) {
    return absl::InvalidArgumentError("--cert-file and --key-file go together");
  }
  // The PEM text of each file flag given; empty for one not given.
  std::map<std::string, std::string> pem;
  for (const char* flag : {"ca-file", "cert-file", "key-file"}) {
    if (!invocation.Has(flag)) continue;
    absl::StatusOr<std::string> text = env.read_file(invocation.Get(flag));
    if (!text.ok()) {
      return absl::InvalidArgumentError(absl::StrCat("--", flag, ": ", text.status().message()));
    }
    pem[flag] = *std::move(text);
  }
  if (!pem.empty() || invocation.GetBool("tls")) {
    options.credentials = TlsCredentials(pem["ca-file"], pem["cert-file"], pem["key-file"]);
  }
  if (invocation.Has("tls-server-name")) {
    if (options.credentials == nullptr) {
      return absl::InvalidArgumentError("--tls-server-name needs TLS (--tls or --ca-file)");
    }
    options.tls_server_name = invocation.Get("tls-server-name");
  }
  return options;
}

// Prints an invitation-bearing response: JSON, or key/value lines plus `extra` lines.
void PrintInvitation(const Invocation& invocation, const google::protobuf::Message& response,
                     const v1::Invitation& invitation, std::ostream& out,
                     const std::vector<std::pair<std::string, std::string>>& extra = {}) {
  if (invocation.GetBool("json")) {
    out << ToJson(response);
    return;
  }
  out << FormatInvitation(invitation);
  for (const auto& [key, value] : extra) {
    if (!value.empty()) out << key << ": " << value << "\n";
  }
}

int RunCreate(const Invocation& invocation, InvitationClient& client, std::ostream& out,
              std::ostream& err) {
  absl::StatusOr<v1::CreateInvitationRequest> request = BuildCreateRequest(invocation);
  if (!request.ok()) return UsageError(err, request.status().message());
  absl::StatusOr<v1::CreateInvitationResponse> response = client.CreateInvitation(*request);
  if (!response.ok()) return RpcError(err, response.status());
  PrintInvitation(invocation, *response, response->invitation(), out,
                  {{"registration_url", response->registration_url()}});
  return kExitOk;
}

int RunGet(const Invocation& invocation, InvitationClient& client, std::ostream& out,
           std::ostream& err) {
  v1::GetInvitationRequest request;
  request.set_id(invocation.args.at(0));
  absl::StatusOr<v1::GetInvitationResponse> response = client.GetInvitation(request);
  if (!response.ok()) return RpcError(err, response.status());
  PrintInvitation(invocation, *response, response->invitation(), out);
  return kExitOk;
}

int RunList(const Invocation& invocation, InvitationClient& client, std::ostream& out,
            std::ostream& err) {
  absl::StatusOr<v1::ListInvitationsRequest> request = BuildListRequest(invocation);
  if (!request.ok()) return UsageError(err, request.status().message());
  const bool all = invocation.GetBool("all");
  v1::ListInvitationsResponse merged;
  for (;;) {
    absl::StatusOr<v1::ListInvitationsResponse> page = client.ListInvitations(*request);
    if (!page.ok()) return RpcError(err, page.status());
    for (v1::Invitation& invitation : *page->mutable_invitations()) {
      *merged.add_invitations() = std::move(invitation);
    }
    merged.set_total_size(page->total_size());
    merged.set_next_page_token(page->next_page_token());
    if (!all || page->next_page_token().empty()) break;
    request->set_page_token(page->next_page_token());
  }
  if (invocation.GetBool("json")) {
    out << ToJson(merged);
    return kExitOk;
  }
  out << FormatInvitationTable({merged.invitations().begin(), merged.invitations().end()});
  // The footer goes to stderr so that stdout stays a clean table for scripts.
  err << merged.invitations_size() << " of " << merged.total_size() << " invitation"
      << (merged.total_size() == 1 ? "" : "s");
  if (!merged.next_page_token().empty()) {
    err << "; next page: --page-token " << merged.next_page_token() << " (or --all)";
  }
  err << "\n";
  return kExitOk;
}

int RunResend(const Invocation& invocation, InvitationClient& client, std::ostream& out,
              std::ostream& err) {
  absl::StatusOr<v1::ResendInvitationRequest> request = BuildResendRequest(invocation);
  if (!request.ok()) return UsageError(err, request.status().message());
  absl::StatusOr<v1::ResendInvitationResponse> response = client.ResendInvitation(*request);
  if (!response.ok()) return RpcError(err, response.status());
  PrintInvitation(invocation, *response, response->invitation(), out,
                  {{"registration_url", response->registration_url()}});
  return kExitOk;
}

int RunRevoke(const Invocation& invocation, InvitationClient& client, std::ostream& out,
              std::ostream& err) {
  absl::StatusOr<v1::RevokeInvitationRequest> request = BuildRevokeRequest(invocation);
  if (!request.ok()) return UsageError(err, request.status().message());
  absl::StatusOr<v1::RevokeInvitationResponse> response = client.RevokeInvitation(*request);
  if (!response.ok()) return RpcError(err, response.status());
  PrintInvitation(invocation, *response, response->invitation(), out);
  return kExitOk;
}

// A policy as `key: value` lines (or protobuf JSON with --json).
void PrintPolicy(const Invocation& invocation, const google::protobuf::Message& response,
                 const v1::TenantPolicy& p, std::ostream& out) {
  if (invocation.GetBool("json")) {
    out << ToJson(response);
    return;
  }
  auto seconds = [](const google::protobuf::Duration& d) {
    return absl::FormatDuration(absl::Seconds(d.seconds()));
  };
  out << "tenant: " << p.tenant_id() << "\n"
      << "allowed_email_domains: "
      << (p.allowed_email_domains().empty()
              ? "any"
              : absl::StrJoin(p.allowed_email_domains().begin(), p.allowed_email_domains().end(),
                              ","))
      << "\n"
      << "max_pending_invitations: "
      << (p.max_pending_invitations() == 0 ? "no limit"
                                           : absl::StrCat(p.max_pending_invitations()))
      << "\n"
      << "default_ttl: " << (p.has_default_ttl() ? seconds(p.default_ttl()) : "the server's")
      << "\n"
      << "reminder_before_expiry: "
      << (p.has_reminder_before_expiry() ? seconds(p.reminder_before_expiry()) : "none") << "\n"
      << "default_locale: " << (p.default_locale().empty() ? "en" : p.default_locale()) << "\n"
      << "etag: " << (p.etag().empty() ? "-" : p.etag()) << "\n";
  if (!p.updated_by().empty()) {
    out << "updated: " << FormatTimestamp(p.update_time()) << " by " << p.updated_by() << "\n";
  }
}

int RunPolicy(const Invocation& invocation, InvitationClient& client, std::ostream& out,
              std::ostream& err) {
  const std::string& verb = invocation.args.at(0);
  if (verb == "get") {
    v1::GetTenantPolicyRequest request;
    request.set_tenant_id(invocation.args.at(1));
    absl::StatusOr<v1::GetTenantPolicyResponse> response = client.GetTenantPolicy(request);
    if (!response.ok()) return RpcError(err, response.status());
    PrintPolicy(invocation, *response, response->policy(), out);
    return kExitOk;
  }
  if (verb != "set") return UsageError(err, "`policy` takes get or set, then a tenant id");
  absl::StatusOr<v1::UpdateTenantPolicyRequest> request = BuildPolicyUpdateRequest(invocation);
  if (!request.ok()) return UsageError(err, request.status().message());
  absl::StatusOr<v1::UpdateTenantPolicyResponse> response = client.UpdateTenantPolicy(*request);
  if (!response.ok()) return RpcError(err, response.status());
  PrintPolicy(invocation, *response, response->policy(), out);
  return kExitOk;
}

int RunValidate(const Invocation& invocation, InvitationClient& client, std::ostream& out,
                std::ostream& err) {
  v1::ValidateInvitationTokenRequest request;
  request.set_token(invocation.args.at(0));
  absl::StatusOr<v1::ValidateInvitationTokenResponse> response =
      client.ValidateInvitationToken(request);
  if (!response.ok()) return RpcError(err, response.status());
  if (invocation.GetBool("json")) {
    out << ToJson(*response);
    return kExitOk;
  }
  out << "valid: yes\n"
      << "invitation_id: " << response->invitation_id() << "\n"
      << "email: " << response->email() << "\n"
      << "role: " << RoleName(response->role()) << "\n"
      << "tenant: " << (response->tenant_id().empty() ? "-" : response->tenant_id()) << "\n"
      << "expires: " << FormatTimestamp(response->expire_time()) << "\n";
  return kExitOk;
}

int RunAccept(const Invocation& invocation, const Environment& env, InvitationClient& client,
              std::ostream& out, std::ostream& err) {
  absl::StatusOr<v1::AcceptInvitationRequest> request =
      BuildAcceptRequest(invocation, env.read_file);
  if (!request.ok()) return UsageError(err, request.status().message());
  absl::StatusOr<v1::AcceptInvitationResponse> response = client.AcceptInvitation(*request);
  if (!response.ok()) return RpcError(err, response.status());
  PrintInvitation(invocation, *response, response->invitation(), out,
                  {{"account_user_id", response->user_id()}});
  return kExitOk;
}

// Streams results to `out` as they arrive; on a terminal, a progress bar on `err` stays below them.
int RunBulk(const Invocation& invocation, const Environment& env, InvitationClient& client,
            std::ostream& out, std::ostream& err) {
  absl::StatusOr<v1::BulkInviteRequest> request = BuildBulkRequest(invocation, env.read_file);
  if (!request.ok()) return UsageError(err, request.status().message());
  const bool json = invocation.GetBool("json");
  const bool bar = env.stderr_is_tty;
  // With stdout on the same terminal, the bar is erased before each result line and redrawn
  // after it; otherwise it is redrawn at most ten times a second.
  const bool shared_terminal = bar && env.stdout_is_tty;
  BulkProgress progress;
  progress.expected = EstimateBulkAddresses(*request);
  bool drawn = false;
  absl::Time last_draw = absl::InfinitePast();
  auto draw = [&] {
    err << "\r" << FormatProgressBar(progress) << "\033[K" << std::flush;
    drawn = true;
    last_draw = absl::Now();
  };
  auto erase = [&] {
    if (drawn) err << "\r\033[K" << std::flush;
    drawn = false;
  };

  auto on_result = [&](const v1::BulkInviteResult& result) {
    progress.Add(result);
    if (shared_terminal) erase();
    if (json) {
      v1::BulkInviteResponse line;
      *line.mutable_result() = result;
      out << ToJson(line, /*compact=*/true);
    } else {
      out << FormatBulkResult(result) << "\n";
    }
    if (shared_terminal) {
      out << std::flush;
      draw();
    } else if (bar && absl::Now() - last_draw >= absl::Milliseconds(100)) {
      draw();
    }
  };
  if (bar) draw();
  absl::StatusOr<v1::BulkInviteSummary> summary = client.BulkInvite(*request, on_result);
  if (bar) erase();
  if (!summary.ok()) {
    out << std::flush;
    if (progress.done > 0) err << progress.done << " results received before the error\n";
    return RpcError(err, summary.status());
  }
  if (json) {
    v1::BulkInviteResponse line;
    *line.mutable_summary() = *summary;
    out << ToJson(line, /*compact=*/true);
  } else {
    out << FormatBulkSummary(*summary) << "\n";
  }
  return summary->invalid() > 0 || summary->failed() > 0 ? kExitBulkIncomplete : kExitOk;
}

int RunWatch(const Invocation& invocation, InvitationClient& client, std::ostream& out,
             std::ostream& err) {
  absl::StatusOr<v1::WatchInvitationEventsRequest> request = BuildWatchRequest(invocation);
  if (!request.ok()) return UsageError(err, request.status().message());
  const bool json = invocation.GetBool("json");
  const absl::Status status =
      client.WatchInvitationEvents(*request, [&](const v1::InvitationEvent& event) {
        out << (json ? ToJson(event, /*compact=*/true) : FormatEvent(event) + "\n") << std::flush;
        return true;
      });
  if (!status.ok()) return RpcError(err, status);
  return kExitOk;
}

// The bearer token for a call made beside the client (reflection, health).
absl::StatusOr<std::string> CurrentToken(const ClientOptions& options) {
  if (options.token_source) return options.token_source();
  return options.bearer_token;
}

int RunServices(InvitationClient& client, std::ostream& out, std::ostream& err) {
  absl::StatusOr<std::string> token = CurrentToken(client.options());
  if (!token.ok()) return RpcError(err, token.status());
  absl::StatusOr<std::vector<std::string>> services =
      ListServices(client.channel(), *token, client.options().deadline);
  if (!services.ok()) return RpcError(err, services.status());
  for (const std::string& service : *services) out << service << "\n";
  return kExitOk;
}

// The service the container and Kubernetes probes ask about: it is SERVING only once the schema
// is migrated, and NOT_SERVING while the database is unreachable or the server drains.
constexpr char kInvitationServiceName[] = "securelink.invitations.v1.InvitationService";

// Exits 0 only for SERVING, so that `invitectl health` can be a container HEALTHCHECK (where
// exit 1 means unhealthy and 2 is reserved).
int RunHealth(const Invocation& invocation, InvitationClient& client, std::ostream& out,
              std::ostream& err) {
  const std::string service = invocation.Get("service", kInvitationServiceName);
  absl::StatusOr<std::string> token = CurrentToken(client.options());
  absl::StatusOr<std::string> status =
      token.ok() ? CheckHealth(client.channel(), service, *token, client.options().deadline)
                 : token.status();
  if (!status.ok()) {
    RpcError(err, status.status());
    return kExitRpcError;  // a probe knows only healthy (0) and unhealthy (1)
  }
  out << *status << "\n";
  return *status == "SERVING" ? kExitOk : kExitRpcError;
}

absl::StatusOr<std::string> ReadFileOrStdin(const std::string& path) {
  if (path == "-") {
    return std::string(std::istreambuf_iterator<char>(std::cin), std::istreambuf_iterator<char>());
  }
  std::ifstream file(path, std::ios::binary);
  if (!file) {
    return absl::NotFoundError(absl::StrCat("cannot read ", path, ": ", std::strerror(errno)));
  }
  std::ostringstream content;
  content << file.rdbuf();
  if (file.bad()) return absl::DataLossError(absl::StrCat("error reading ", path));
  return content.str();
}

}  // namespace

Environment ProcessEnvironment() {
  Environment env;
  env.getenv = [](const std::string& name) -> std::optional<std::string> {
    const char* value = std::getenv(name.c_str());
    if (value == nullptr) return std::nullopt;
    return std::string(value);
  };
  env.read_file = ReadFileOrStdin;
  env.stdout_is_tty = isatty(STDOUT_FILENO) == 1;
  env.stderr_is_tty = isatty(STDERR_FILENO) == 1;
  return env;
}

int Run(const std::vector<std::string>& argv, const Environment& env, std::ostream& out,
        std::ostream& err) {
  if (argv.empty()) {
    err << GeneralUsage();
    return kExitUsage;
  }
  absl::StatusOr<Invocation> parsed = ParseCommandLine(argv);
  if (!parsed.ok()) return UsageError(err, parsed.status().message());
  const Invocation& invocation = *parsed;

  if (invocation.command == "help") {
    if (invocation.args.empty()) {
      out << GeneralUsage();
      return kExitOk;
    }
    const CommandSpec* command = FindCommand(invocation.args[0]);
    if (command == nullptr) {
      return UsageError(
          err, absl::StrCat("unknown command \"", invocation.args[0], "\" (see `invitectl help`)"));
    }
    out << CommandUsage(*command);
    return kExitOk;
  }
  if (invocation.help) {
    out << CommandUsage(*FindCommand(invocation.command));
    return kExitOk;
  }

  absl::StatusOr<ClientOptions> options = MakeOptions(invocation, env);
  if (!options.ok()) return UsageError(err, options.status().message());
  // On stderr, so that stdout stays what scripts parse.
  options->warning_sink = [&err](absl::string_view warning) {
    err << "warning: " << warning << " (--tls or --ca-file)\n";
  };
  InvitationClient client(*std::move(options));

  const std::string& command = invocation.command;
  if (command == "create") return RunCreate(invocation, client, out, err);
  if (command == "get") return RunGet(invocation, client, out, err);
  if (command == "list") return RunList(invocation, client, out, err);
  if (command == "resend") return RunResend(invocation, client, out, err);
  if (command == "revoke") return RunRevoke(invocation, client, out, err);
  if (command == "validate") return RunValidate(invocation, client, out, err);
  if (command == "policy") return RunPolicy(invocation, client, out, err);
  if (command == "accept") return RunAccept(invocation, env, client, out, err);
  if (command == "bulk") return RunBulk(invocation, env, client, out, err);
  if (command == "watch" || command == "events") return RunWatch(invocation, client, out, err);
  if (command == "services") return RunServices(client, out, err);
  if (command == "health") return RunHealth(invocation, client, out, err);
  return UsageError(err, absl::StrCat("command `", command, "` is not implemented"));
}

}  // namespace securelink::invitations::invitectl
