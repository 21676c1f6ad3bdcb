#include "server/keycloak/keycloak_admin_client.h"

#include <algorithm>
#include <cctype>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/cord.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_replace.h"
#include "absl/strings/strip.h"
#include "nlohmann/json.hpp"
#include "server/domain/errors.h"
#include "server/http/curl_http_client.h"
#include "server/util/log.h"
#include "server/util/status_macros.h"

namespace securelink::invitations {

using json = nlohmann::json;

namespace {

constexpr absl::string_view kRedacted = "[redacted]";
// Shorter strings are not scrubbed from messages: replacing every "ab" would mangle the text,
// and no password policy admits them anyway.
constexpr size_t kMinScrubLength = 4;

// Percent-encodes everything but RFC 3986 unreserved characters: safe for a query value and for
// a single path segment.
std::string Escape(absl::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (unsigned char c : s) {
    if (absl::ascii_isalnum(c) || c == '-' || c == '.' || c == '_' || c == '~') {
      out.push_back(static_cast<char>(c));
    } else {
      absl::StrAppendFormat(&out, "%%%02X", c);
    }
  }
  return out;
}

// One term of Keycloak's `q` attribute search ("key:value"); values with blanks, quotes, colons or
// backslashes are quoted, with '"' and '\' escaped, as Keycloak's SearchQueryUtils expects.
std::string SearchTerm(absl::string_view key, absl::string_view value) {
  bool plain = !value.empty() && std::none_of(value.begin(), value.end(), [](char c) {
    return absl::ascii_isspace(static_cast<unsigned char>(c)) || c == '"' || c == ':' ||
           c == '\\';
  });
  if (plain) return absl::StrCat(key, ":", value);
  return absl::StrCat(key, ":\"",
                      absl::StrReplaceAll(value, {{"\\", "\\\\"}, {"\"", "\\\""}}), "\"");
}

std::string OneLine(absl::string_view s, size_t max) {
  std::string out(absl::StripAsciiWhitespace(s.substr(0, max)));
  for (char& c : out) {
    if (c == '\n' || c == '\r' || c == '\t') c = ' ';
  }
  if (s.size() > max) out += "...";
  return out;
}

std::string ParamText(const json& p) {
  if (p.is_string()) return p.get<std::string>();
  if (p.is_number_integer()) return std::to_string(p.get<long long>());
  return p.dump();
}

// Keycloak's request fields named as the AcceptInvitation request names them.
std::string RequestField(absl::string_view keycloak_field) {
  if (keycloak_field == "firstName") return "first_name";
  if (keycloak_field == "lastName") return "last_name";
  return std::string(keycloak_field);
}

// What Keycloak said in an error body. Keycloak answers in one of three shapes:
//   ErrorRepresentation         {"errorMessage": "...", "field": "...", "params": [...]}
//   ... with several errors     {"errors": [ErrorRepresentation, ...]}
//   OAuth2ErrorRepresentation   {"error": "key", "error_description": "text"}
struct KeycloakMessage {
  std::string text;   // a person-readable sentence (never empty for a non-empty body)
  std::string key;    // "error" / "errorMessage" key when there is one
  std::string field;  // request field (first error's), or ""
};

// User-profile validation errors carry a message key plus params; say them in English.
std::string DescribeProfileError(const std::string& key, const json& params) {
  auto param = [&](size_t i) -> std::string {
    return params.is_array() && params.size() > i ? ParamText(params[i]) : "";
  };
  if (key == "error-invalid-length") {
    return absl::StrCat("must be between ", param(1), " and ", param(2), " characters long");
  }
  if (key == "error-invalid-email" || key == "invalidEmailMessage") {
    return "is not a valid email address";
  }
  if (key == "error-person-name-invalid-character") {
    return "contains characters Keycloak does not allow in names";
  }
  if (key == "error-username-invalid-character") {
    return "contains characters Keycloak does not allow in usernames";
  }
  if (key == "error-user-attribute-read-only") return "cannot be changed";
  if (key == "error-user-attribute-required" || key == "missingUsernameMessage") {
    return "is required";
  }
  if (key == "error-pattern-no-match" || key == "error-invalid-value") {
    return "has a value Keycloak does not accept";
  }
  std::vector<std::string> rest;
  if (params.is_array()) {
    for (size_t i = 1; i < params.size(); ++i) rest.push_back(ParamText(params[i]));
  }
  return rest.empty() ? key : absl::StrCat(key, " (", absl::StrJoin(rest, ", "), ")");
}

KeycloakMessage ParseKeycloakMessage(absl::string_view body) {
  KeycloakMessage m;
  json j = json::parse(body.begin(), body.end(), nullptr, /*allow_exceptions=*/false);
  try {
    if (j.is_object()) {
      auto describe_one = [](const json& e, KeycloakMessage* out) {
        std::string key = e.value("errorMessage", "");
        std::string field = e.contains("field") && e["field"].is_string()
                                ? e["field"].get<std::string>()
                                : "";
        json params = e.contains("params") ? e["params"] : json();
        out->key = key;
        if (!field.empty()) {
          out->field = RequestField(field);
          out->text = DescribeProfileError(key, params);
        } else {
          out->text = key;
        }
      };
      if (j.contains("errors") && j["errors"].is_array() && !j["errors"].empty()) {
        std::vector<std::string> parts;
        for (const json& e : j["errors"]) {
          if (!e.is_object()) continue;
          KeycloakMessage one;
          describe_one(e, &one);
          if (m.field.empty() && m.key.empty()) {
            m.field = one.field;
            m.key = one.key;
          }
          parts.push_back(one.field.empty() ? one.text : absl::StrCat(one.field, " ", one.text));
        }
        m.text = absl::StrJoin(parts, "; ");
      } else if (j.contains("errorMessage") && j["errorMessage"].is_string()) {
        describe_one(j, &m);
      } else if (j.contains("error_description") && j["error_description"].is_string()) {
        m.key = j.value("error", "");
        m.text = j["error_description"].get<std::string>();
      } else if (j.contains("error") && j["error"].is_string()) {
        m.key = j["error"].get<std::string>();
        m.text = m.key;
      }
    }
  } catch (const json::exception&) {
    // Fall through to the raw text.
  }
  if (m.text.empty() && !body.empty()) m.text = OneLine(body, 200);
  m.text = OneLine(m.text, 500);
  return m;
}

bool IsRealmNotFound(long status, absl::string_view body) {
  return status == 404 && absl::StrContains(body, "Realm not found");
}

absl::Status Unavailable(absl::string_view message) {
  return ReasonedError(absl::StatusCode::kUnavailable, message, kReasonIdpUnavailable);
}

// The user representation fields the saga needs; skips anything malformed.
std::optional<ExistingUser> ParseUser(const json& u) {
  if (!u.is_object() || !u.contains("id") || !u["id"].is_string()) return std::nullopt;
  ExistingUser user;
  user.id = u["id"].get<std::string>();
  if (u.contains("username") && u["username"].is_string()) {
    user.username = u["username"].get<std::string>();
  }
  if (u.contains("email") && u["email"].is_string()) user.email = u["email"].get<std::string>();
  if (u.contains("firstName") && u["firstName"].is_string()) {
    user.first_name = u["firstName"].get<std::string>();
  }
  if (u.contains("lastName") && u["lastName"].is_string()) {
    user.last_name = u["lastName"].get<std::string>();
  }
  user.enabled = u.contains("enabled") && u["enabled"].is_boolean() && u["enabled"].get<bool>();
  if (u.contains("attributes") && u["attributes"].is_object()) {
    for (const auto& [name, values] : u["attributes"].items()) {
      std::vector<std::string>& out = user.attributes[name];
      if (values.is_array()) {
        for (const json& v : values) {
          if (v.is_string()) out.push_back(v.get<std::string>());
        }
      } else if (values.is_string()) {
        out.push_back(values.get<std::string>());
      }
    }
  }
  return user;
}

bool HasValue(const ExistingUser& user, absl::string_view attribute, absl::string_view value) {
  auto it = user.attributes.find(std::string(attribute));
  if (it == user.attributes.end()) return false;
  return std::find(it->second.begin(), it->second.end(), value) != it->second.end();
}

const Clock& DefaultClock() {
  static const SystemClock* clock = new SystemClock();
  return *clock;
}

}  // namespace

absl::StatusOr<std::unique_ptr<KeycloakAdminClient>> KeycloakAdminClient::Create(
    KeycloakAdminOptions options, const Clock* clock) {
  while (absl::EndsWith(options.base_url, "/")) options.base_url.pop_back();
  absl::string_view url = options.base_url;
  if (!absl::ConsumePrefix(&url, "http://") && !absl::ConsumePrefix(&url, "https://")) {
    return InvalidField("keycloak_url", "must be an http:// or https:// URL, e.g. "
                                        "https://sso.example.com");
  }
  absl::string_view authority = url.substr(0, url.find('/'));
  if (authority.empty()) return InvalidField("keycloak_url", "has no host");
  if (absl::StrContains(authority, '@')) {
    return InvalidField("keycloak_url", "must not carry credentials; use the client secret");
  }
  if (options.realm.empty()) return InvalidField("keycloak_realm", "must not be empty");
  if (options.client_id.empty()) return InvalidField("keycloak_client_id", "must not be empty");
  if (options.client_secret.empty()) {
    return InvalidField("keycloak_client_secret", "must not be empty");
  }
  for (absl::Duration timeout : {options.connect_timeout, options.request_timeout}) {
    if (timeout <= absl::ZeroDuration() || timeout == absl::InfiniteDuration()) {
      return absl::InvalidArgumentError("Keycloak timeouts must be positive and finite");
    }
  }
  http::CurlHttpClientOptions http_options;
  http_options.connect_timeout = options.connect_timeout;
  http_options.max_response_bytes = options.max_response_bytes;
  http_options.ca_file = options.ca_file;
  http_options.max_idle_connections = options.max_idle_connections;
  ASSIGN_OR_RETURN(std::unique_ptr<http::HttpClient> http,
                   http::CurlHttpClient::Create(std::move(http_options)));
  return std::unique_ptr<KeycloakAdminClient>(new KeycloakAdminClient(
      std::move(options), clock != nullptr ? clock : &DefaultClock(), std::move(http)));
}

KeycloakAdminClient::KeycloakAdminClient(KeycloakAdminOptions options, const Clock* clock,
                                         std::unique_ptr<http::HttpClient> http)
    : options_(std::move(options)),
      clock_(clock),
      admin_base_(absl::StrCat(options_.base_url, "/admin/realms/", Escape(options_.realm))),
      token_url_(absl::StrCat(options_.base_url, "/realms/", Escape(options_.realm),
                              "/protocol/openid-connect/token")),
      http_(std::move(http)) {}

KeycloakAdminClient::~KeycloakAdminClient() = default;

absl::StatusOr<KeycloakAdminClient::HttpResponse> KeycloakAdminClient::Perform(
    const http::HttpRequest& request, absl::string_view what) const {
  absl::StatusOr<HttpResponse> response = http_->Send(request);
  if (response.ok()) return response;
  const absl::Status& failed = response.status();
  if (absl::IsResourceExhausted(failed)) {
    return absl::InternalError(absl::StrCat("Keycloak's answer to ", what, " exceeded ",
                                            options_.max_response_bytes, " bytes"));
  }
  if (!absl::IsUnavailable(failed)) {
    return absl::InternalError(absl::StrCat("cannot send ", what, " to Keycloak: ",
                                            failed.message()));
  }
  // The client's message names the method, the URL without its query, and libcurl's reason.
  if (ReasonOf(failed) == http::kReasonHttpTimeout) {
    return Unavailable(
        absl::StrCat("Keycloak did not answer in time: ", OneLine(failed.message(), 400)));
  }
  return Unavailable(absl::StrCat("Keycloak is unreachable: ", OneLine(failed.message(), 400)));
}

absl::StatusOr<KeycloakAdminClient::CachedToken> KeycloakAdminClient::FetchToken() const {
  http::HttpRequest request;
  request.method = "POST";
  request.url = token_url_;
  request.headers = {{"Accept", "application/json"},
                     {"Content-Type", "application/x-www-form-urlencoded"}};
  request.body = absl::StrCat("grant_type=client_credentials&client_id=",
                              Escape(options_.client_id),
                              "&client_secret=", Escape(options_.client_secret));
  request.timeout = options_.request_timeout;
  const std::string what =
      absl::StrCat("POST /realms/", options_.realm, "/protocol/openid-connect/token");
  // Measure the lifetime from before the request: the token may be older than its arrival.
  const absl::Time sent = clock_->Now();
  ASSIGN_OR_RETURN(HttpResponse response, Perform(request, what));

  if (response.status == 200) {
    json j = json::parse(response.body, nullptr, /*allow_exceptions=*/false);
    if (!j.is_object() || !j.contains("access_token") || !j["access_token"].is_string() ||
        j["access_token"].get<std::string>().empty()) {
      return absl::InternalError(absl::StrCat(
          "Keycloak's token endpoint answered 200 without an access_token (", what, ")"));
    }
    absl::Duration lifetime = absl::Seconds(60);  // RFC 6749: expires_in is RECOMMENDED only
    if (j.contains("expires_in") && j["expires_in"].is_number()) {
      lifetime = absl::Seconds(j["expires_in"].get<double>());
    }
    const absl::Duration margin = std::min(options_.token_refresh_margin, lifetime / 2);
    CachedToken token;
    token.access_token = j["access_token"].get<std::string>();
    token.refresh_at = sent + lifetime - margin;
    Log(LogLevel::kDebug, "obtained a Keycloak service-account token",
        {{"realm", options_.realm},
         {"client_id", options_.client_id},
         {"expires_in_s", absl::ToInt64Seconds(lifetime)}});
    return token;
  }

  KeycloakMessage said = ParseKeycloakMessage(response.body);
  std::string keycloak_said =
      said.key.empty() || said.key == said.text ? said.text
                                                : absl::StrCat(said.key, ": ", said.text);
  if (response.status == 400 || response.status == 401) {
    return Scrub(ReasonedError(
        absl::StatusCode::kFailedPrecondition,
        absl::StrCat("Keycloak refused a service-account token to client '", options_.client_id,
                     "' of realm '", options_.realm, "' (HTTP ", response.status, ": ",
                     keycloak_said,
                     "); check the Keycloak client id and secret, and that the client is "
                     "confidential with service accounts enabled"),
        kReasonIdpCredentialsRejected));
  }
  if (response.status == 404) {
    return ReasonedError(absl::StatusCode::kFailedPrecondition,
                         absl::StrCat("Keycloak at ", options_.base_url, " has no realm '",
                                      options_.realm, "' (token endpoint answered 404: ",
                                      keycloak_said, ")"),
                         kReasonIdpRealmNotFound);
  }
  return Scrub(ErrorFromResponse(response, "obtaining a service-account token"));
}

bool KeycloakAdminClient::CachedTokenUsable(absl::string_view rejected) const {
  return !token_.access_token.empty() && token_.access_token != rejected &&
         clock_->Now() < token_.refresh_at;
}

absl::StatusOr<std::string> KeycloakAdminClient::AccessToken(absl::string_view rejected) {
  {
    absl::MutexLock lock(&mu_);
    if (CachedTokenUsable(rejected)) return token_.access_token;
  }
  absl::MutexLock fetch_lock(&fetch_mu_);
  {
    absl::MutexLock lock(&mu_);
    // Another thread may have fetched one while this one waited.
    if (CachedTokenUsable(rejected)) return token_.access_token;
  }
  ASSIGN_OR_RETURN(CachedToken fresh, FetchToken());
  absl::MutexLock lock(&mu_);
  token_ = fresh;
  return token_.access_token;
}

absl::StatusOr<KeycloakAdminClient::HttpResponse> KeycloakAdminClient::AdminCall(
    absl::string_view method, absl::string_view path, absl::string_view query, std::string body) {
  http::HttpRequest request;
  request.method = std::string(method);
  request.url = absl::StrCat(admin_base_, path, query.empty() ? "" : "?", query);
  request.headers = {{"Accept", "application/json"}};
  if (!body.empty()) request.headers.emplace_back("Content-Type", "application/json");
  request.body = std::move(body);
  request.timeout = options_.request_timeout;
  const std::string what = absl::StrCat(method, " /admin/realms/", options_.realm, path);

  ASSIGN_OR_RETURN(request.bearer_token, AccessToken(/*rejected=*/""));
  ASSIGN_OR_RETURN(HttpResponse response, Perform(request, what));
  if (response.status != 401) return response;

  // Keycloak restarted with new keys, the session behind the token was revoked, or clocks
  // disagree: one fresh token, one retry.
  Log(LogLevel::kWarning, "Keycloak rejected the service-account token; fetching a new one",
      {{"request", what}});
  ASSIGN_OR_RETURN(request.bearer_token, AccessToken(/*rejected=*/request.bearer_token));
  return Perform(request, what);
}

absl::Status KeycloakAdminClient::ErrorFromResponse(const HttpResponse& response,
                                                    absl::string_view action) const {
  const long status = response.status;
  KeycloakMessage said = ParseKeycloakMessage(response.body);
  const std::string detail = said.text.empty() ? "" : absl::StrCat(": ", said.text);

  if (status == 400) {
    if (absl::StartsWith(said.key, "invalidPassword")) {
      // Password policy (Keycloak: PasswordPolicyNotMetException); its message is for the user.
      return InvalidField("password", said.text);
    }
    if (!said.field.empty()) return InvalidField(said.field, said.text);
    return absl::InvalidArgumentError(
        absl::StrCat("Keycloak rejected ", action, detail));
  }
  if (status == 401) {
    return Unavailable(absl::StrCat("Keycloak rejected a freshly issued service-account token "
                                    "while ", action, " (HTTP 401", detail, ")"));
  }
  if (status == 403) {
    return ReasonedError(
        absl::StatusCode::kFailedPrecondition,
        absl::StrCat("Keycloak denied the service account of client '", options_.client_id,
                     "' while ", action, " (HTTP 403", detail,
                     "); it needs the realm-management roles manage-users, view-users, "
                     "query-users and view-realm"),
        kReasonIdpPermissionDenied);
  }
  if (IsRealmNotFound(status, response.body)) {
    return ReasonedError(absl::StatusCode::kFailedPrecondition,
                         absl::StrCat("Keycloak at ", options_.base_url, " has no realm '",
                                      options_.realm, "' (while ", action, ")"),
                         kReasonIdpRealmNotFound);
  }
  if (status == 404) {
    return absl::NotFoundError(absl::StrCat("Keycloak found nothing while ", action, detail));
  }
  if (status == 409) {
    std::vector<std::pair<std::string, std::string>> metadata;
    if (absl::StrContains(said.text, "same username or email")) {
      // Keycloak cannot say which one clashed.
    } else if (absl::StrContains(said.text, "same username")) {
      metadata.emplace_back("field", "username");
    } else if (absl::StrContains(said.text, "same email")) {
      metadata.emplace_back("field", "email");
    }
    return ReasonedError(absl::StatusCode::kAlreadyExists,
                         said.text.empty() ? "A Keycloak user with that username or email exists"
                                           : said.text,
                         kReasonIdpUserExists, std::move(metadata));
  }
  if (status == 408 || status == 429 || status >= 500) {
    return Unavailable(absl::StrCat("Keycloak failed while ", action, " (HTTP ", status, detail,
                                    "); try again later"));
  }
  return absl::InternalError(
      absl::StrCat("unexpected HTTP ", status, " from Keycloak while ", action, detail));
}

absl::Status KeycloakAdminClient::Scrub(absl::Status status, absl::string_view password) const {
  if (status.ok()) return status;
  std::vector<std::pair<absl::string_view, absl::string_view>> secrets;
  if (options_.client_secret.size() >= kMinScrubLength) {
    secrets.emplace_back(options_.client_secret, kRedacted);
  }
  if (password.size() >= kMinScrubLength) secrets.emplace_back(password, kRedacted);
  if (secrets.empty()) return status;
  absl::Status clean(status.code(), absl::StrReplaceAll(status.message(), secrets));
  status.ForEachPayload([&](absl::string_view url, const absl::Cord& payload) {
    clean.SetPayload(url, absl::Cord(absl::StrReplaceAll(std::string(payload), secrets)));
  });
  return clean;
}

absl::StatusOr<std::vector<ExistingUser>> KeycloakAdminClient::ListUsers(std::string query) {
  ASSIGN_OR_RETURN(HttpResponse response, AdminCall("GET", "/users", query, ""));
  if (response.status != 200) {
    return Scrub(ErrorFromResponse(response, "searching Keycloak users"));
  }
  json j = json::parse(response.body, nullptr, /*allow_exceptions=*/false);
  if (!j.is_array()) {
    return absl::InternalError("Keycloak answered a user search with something other than a "
                               "JSON array");
  }
  std::vector<ExistingUser> users;
  for (const json& u : j) {
    std::optional<ExistingUser> user = ParseUser(u);
    if (user.has_value()) users.push_back(*std::move(user));
  }
  return users;
}

absl::StatusOr<std::optional<ExistingUser>> KeycloakAdminClient::FindUserByInvitation(
    absl::string_view invitation_id) {
  if (invitation_id.empty()) return InvalidField("invitation_id", "must not be empty");
  ASSIGN_OR_RETURN(
      std::vector<ExistingUser> users,
      ListUsers(absl::StrCat("q=", Escape(SearchTerm(kInvitationIdAttribute, invitation_id)),
                             "&exact=true&briefRepresentation=false&max=10")));
  // Keycloak matches case-insensitively (and before 22, by substring): keep exact matches only.
  std::optional<ExistingUser> found;
  for (ExistingUser& user : users) {
    if (!HasValue(user, kInvitationIdAttribute, invitation_id)) continue;
    if (found.has_value()) {
      Log(LogLevel::kWarning, "several Keycloak users carry one invitation id",
          {{"invitation_id", std::string(invitation_id)},
           {"user_id", found->id},
           {"other_user_id", user.id}});
      break;
    }
    found = std::move(user);
  }
  return found;
}

absl::StatusOr<std::optional<ExistingUser>> KeycloakAdminClient::FindUserByEmail(
    absl::string_view email) {
  if (email.empty()) return InvalidField("email", "must not be empty");
  ASSIGN_OR_RETURN(std::vector<ExistingUser> users,
                   ListUsers(absl::StrCat("email=", Escape(email),
                                          "&exact=true&briefRepresentation=false&max=10")));
  for (ExistingUser& user : users) {
    if (absl::EqualsIgnoreCase(user.email, email)) return std::optional<ExistingUser>(user);
  }
  return std::optional<ExistingUser>();
}

absl::StatusOr<std::string> KeycloakAdminClient::CreateUser(const NewUser& user) {
  if (user.email.empty()) return InvalidField("email", "must not be empty");
  if (user.password.empty()) return InvalidField("password", "must not be empty");
  if (user.invitation_id.empty()) return InvalidField("invitation_id", "must not be empty");

  json attributes = json::object();
  attributes[std::string(kInvitationIdAttribute)] = json::array({user.invitation_id});
  if (!user.tenant_id.empty()) {
    attributes[std::string(kTenantIdAttribute)] = json::array({user.tenant_id});
  }
  json rep = {
      {"username", user.username.empty() ? user.email : user.username},
      {"email", user.email},
      {"enabled", user.enabled},
      {"emailVerified", true},
      {"credentials", json::array({json{{"type", "password"},
                                        {"value", user.password},
                                        {"temporary", false}}})},
      {"attributes", attributes},
  };
  if (!user.first_name.empty()) rep["firstName"] = user.first_name;
  if (!user.last_name.empty()) rep["lastName"] = user.last_name;
  std::string body = rep.dump(-1, ' ', false, json::error_handler_t::replace);
  rep.clear();

  absl::StatusOr<HttpResponse> response = AdminCall("POST", "/users", "", std::move(body));
  if (!response.ok()) return Scrub(response.status(), user.password);
  if (response->status != 201) {
    return Scrub(ErrorFromResponse(*response, "creating the user"), user.password);
  }
  // Location: {base}/admin/realms/{realm}/users/{id}
  const std::string location_header = response->Header("Location");
  absl::string_view location = location_header;
  location = location.substr(0, location.find_first_of("?#"));
  while (absl::ConsumeSuffix(&location, "/")) {
  }
  size_t slash = location.rfind('/');
  absl::string_view id = slash == absl::string_view::npos ? "" : location.substr(slash + 1);
  if (id.empty() || !absl::StrContains(location, "/users/")) {
    return absl::InternalError(absl::StrCat(
        "Keycloak created the user but its Location header ('", OneLine(location_header, 200),
        "') names no user id; look the user up by invitation id"));
  }
  return std::string(id);
}

absl::Status KeycloakAdminClient::VerifyAttributes(absl::string_view user_id,
                                                   const NewUser& expected) {
  if (user_id.empty()) return InvalidField("user_id", "must not be empty");
  ASSIGN_OR_RETURN(HttpResponse response,
                   AdminCall("GET", absl::StrCat("/users/", Escape(user_id)), "", ""));
  if (response.status == 404 && !IsRealmNotFound(response.status, response.body)) {
    return ReasonedError(absl::StatusCode::kNotFound,
                         absl::StrCat("Keycloak has no user with id ", user_id),
                         kReasonIdpUserNotFound, {{"user_id", std::string(user_id)}});
  }
  if (response.status != 200) {
    return Scrub(ErrorFromResponse(response, "reading the user back"), expected.password);
  }
  json j = json::parse(response.body, nullptr, /*allow_exceptions=*/false);
  std::optional<ExistingUser> user = ParseUser(j);
  if (!user.has_value()) {
    return absl::InternalError("Keycloak answered GET user with something other than a user");
  }

  std::vector<std::pair<absl::string_view, absl::string_view>> wanted = {
      {kInvitationIdAttribute, expected.invitation_id}};
  if (!expected.tenant_id.empty()) wanted.emplace_back(kTenantIdAttribute, expected.tenant_id);
  std::vector<std::string> missing, different;
  for (const auto& [name, value] : wanted) {
    auto it = user->attributes.find(std::string(name));
    if (it == user->attributes.end() || it->second.empty()) {
      missing.emplace_back(name);
    } else if (!HasValue(*user, name, value)) {
      different.push_back(absl::StrCat(name, " is '", absl::StrJoin(it->second, ","),
                                       "', expected '", value, "'"));
    }
  }
  if (!missing.empty()) {
    std::string names = absl::StrJoin(missing, ", ");
    return ReasonedError(
        absl::StatusCode::kFailedPrecondition,
        absl::StrCat("Keycloak did not keep the user attribute", missing.size() > 1 ? "s " : " ",
                     names, " of user ", user_id, ": the user profile of realm '",
                     options_.realm, "' must declare tenant_id and invitation_id "
                     "(deploy/keycloak/realm-securelink.json does)"),
        kReasonIdpAttributeDropped, {{"attribute", names}, {"user_id", std::string(user_id)}});
  }
  if (!different.empty()) {
    return ReasonedError(
        absl::StatusCode::kFailedPrecondition,
        absl::StrCat("Keycloak user ", user_id, " does not carry this invitation's attributes: ",
                     absl::StrJoin(different, "; ")),
        kReasonIdpAttributeDropped, {{"user_id", std::string(user_id)}});
  }
  return absl::OkStatus();
}

absl::Status KeycloakAdminClient::AssignRealmRole(absl::string_view user_id,
                                                  absl::string_view role_name) {
  if (user_id.empty()) return InvalidField("user_id", "must not be empty");
  if (role_name.empty()) return InvalidField("role", "must not be empty");
  const std::string action = absl::StrCat("looking up realm role '", role_name, "'");
  ASSIGN_OR_RETURN(HttpResponse role_response,
                   AdminCall("GET", absl::StrCat("/roles/", Escape(role_name)), "", ""));
  auto role_missing = [&] {
    return ReasonedError(absl::StatusCode::kFailedPrecondition,
                         absl::StrCat("Keycloak realm '", options_.realm, "' has no realm role '",
                                      role_name,
                                      "': create it, or configure the role names the service "
                                      "maps invited roles to"),
                         kReasonIdpRoleNotFound, {{"role", std::string(role_name)}});
  };
  if (role_response.status == 404 && !IsRealmNotFound(404, role_response.body)) {
    return role_missing();
  }
  if (role_response.status != 200) return Scrub(ErrorFromResponse(role_response, action));
  json role = json::parse(role_response.body, nullptr, /*allow_exceptions=*/false);
  if (!role.is_object() || !role.contains("id") || !role["id"].is_string()) {
    return absl::InternalError(absl::StrCat("Keycloak's answer while ", action,
                                            " has no role id"));
  }
  json mapping = json::array(
      {json{{"id", role["id"]}, {"name", role.value("name", std::string(role_name))}}});

  ASSIGN_OR_RETURN(
      HttpResponse response,
      AdminCall("POST", absl::StrCat("/users/", Escape(user_id), "/role-mappings/realm"), "",
                mapping.dump(-1, ' ', false, json::error_handler_t::replace)));
  if (response.status >= 200 && response.status < 300) return absl::OkStatus();
  if (response.status == 404 && !IsRealmNotFound(404, response.body)) {
    // "Role not found" when the role vanished since the lookup; else "User not found".
    if (absl::StrContains(response.body, "Role")) return role_missing();
    return ReasonedError(absl::StatusCode::kNotFound,
                         absl::StrCat("Keycloak has no user with id ", user_id),
                         kReasonIdpUserNotFound, {{"user_id", std::string(user_id)}});
  }
  return Scrub(ErrorFromResponse(
      response, absl::StrCat("mapping realm role '", role_name, "' to user ", user_id)));
}

namespace {

absl::Status UserNotFound(absl::string_view user_id) {
  return ReasonedError(absl::StatusCode::kNotFound,
                       absl::StrCat("Keycloak has no user with id ", user_id),
                       kReasonIdpUserNotFound, {{"user_id", std::string(user_id)}});
}

}  // namespace

absl::StatusOr<ExistingUser> KeycloakAdminClient::GetUser(absl::string_view user_id) {
  if (user_id.empty()) return InvalidField("user_id", "must not be empty");
  ASSIGN_OR_RETURN(HttpResponse response,
                   AdminCall("GET", absl::StrCat("/users/", Escape(user_id)), "", ""));
  if (response.status == 404 && !IsRealmNotFound(response.status, response.body)) {
    return UserNotFound(user_id);
  }
  if (response.status != 200) return Scrub(ErrorFromResponse(response, "reading a user"));
  std::optional<ExistingUser> user =
      ParseUser(json::parse(response.body, nullptr, /*allow_exceptions=*/false));
  if (!user.has_value()) {
    return absl::InternalError("Keycloak answered GET user with something other than a user");
  }
  return *std::move(user);
}

absl::Status KeycloakAdminClient::UpdateUser(absl::string_view user_id,
                                             const UserChanges& changes) {
  if (user_id.empty()) return InvalidField("user_id", "must not be empty");
  const std::string path = absl::StrCat("/users/", Escape(user_id));
  // Keycloak 24+ replaces the user profile's attributes with what a PUT carries, so the whole
  // representation goes back with only the changed fields altered.
  ASSIGN_OR_RETURN(HttpResponse current, AdminCall("GET", path, "", ""));
  if (current.status == 404 && !IsRealmNotFound(current.status, current.body)) {
    return UserNotFound(user_id);
  }
  if (current.status != 200) return Scrub(ErrorFromResponse(current, "reading a user"));
  json stored = json::parse(current.body, nullptr, /*allow_exceptions=*/false);
  if (!stored.is_object()) {
    return absl::InternalError("Keycloak answered GET user with something other than a user");
  }
  // The user-profile attributes go back whole; fields Keycloak leaves alone when absent (enabled
  // above all) are sent only when they change, so that an update racing another one cannot
  // undo it with the value it read.
  json rep = json::object();
  for (const char* field : {"username", "email", "firstName", "lastName", "attributes"}) {
    if (stored.contains(field)) rep[field] = stored[field];
  }
  if (changes.first_name.has_value()) rep["firstName"] = *changes.first_name;
  if (changes.last_name.has_value()) rep["lastName"] = *changes.last_name;
  if (changes.enabled.has_value()) rep["enabled"] = *changes.enabled;
  ASSIGN_OR_RETURN(HttpResponse response,
                   AdminCall("PUT", path, "",
                             rep.dump(-1, ' ', false, json::error_handler_t::replace)));
  if (response.status == 404 && !IsRealmNotFound(response.status, response.body)) {
    return UserNotFound(user_id);
  }
  if (response.status < 200 || response.status >= 300) {
    return Scrub(ErrorFromResponse(response, absl::StrCat("updating user ", user_id)));
  }
  return absl::OkStatus();
}

absl::Status KeycloakAdminClient::SetPassword(absl::string_view user_id,
                                              absl::string_view password) {
  if (user_id.empty()) return InvalidField("user_id", "must not be empty");
  if (password.empty()) return InvalidField("password", "must not be empty");
  json credential = {{"type", "password"}, {"value", password}, {"temporary", false}};
  std::string body = credential.dump(-1, ' ', false, json::error_handler_t::replace);
  credential.clear();
  absl::StatusOr<HttpResponse> response = AdminCall(
      "PUT", absl::StrCat("/users/", Escape(user_id), "/reset-password"), "", std::move(body));
  if (!response.ok()) return Scrub(response.status(), password);
  if (response->status == 404 && !IsRealmNotFound(response->status, response->body)) {
    return UserNotFound(user_id);
  }
  if (response->status < 200 || response->status >= 300) {
    return Scrub(ErrorFromResponse(*response, "setting the password"), password);
  }
  return absl::OkStatus();
}

absl::Status KeycloakAdminClient::DeleteUser(absl::string_view user_id) {
  if (user_id.empty()) return InvalidField("user_id", "must not be empty");
  ASSIGN_OR_RETURN(HttpResponse response,
                   AdminCall("DELETE", absl::StrCat("/users/", Escape(user_id)), "", ""));
  if (response.status == 404 && !IsRealmNotFound(response.status, response.body)) {
    return absl::OkStatus();  // already gone
  }
  if (response.status < 200 || response.status >= 300) {
    return Scrub(ErrorFromResponse(response, absl::StrCat("deleting user ", user_id)));
  }
  return absl::OkStatus();
}

absl::Status KeycloakAdminClient::CheckReadiness(const std::vector<std::string>& role_names) {
  RETURN_IF_ERROR(AccessToken(/*rejected=*/"").status());
  for (const std::string& role : role_names) {
    ASSIGN_OR_RETURN(HttpResponse response,
                     AdminCall("GET", absl::StrCat("/roles/", Escape(role)), "", ""));
    if (response.status == 404 && !IsRealmNotFound(404, response.body)) {
      return ReasonedError(absl::StatusCode::kFailedPrecondition,
                           absl::StrCat("Keycloak realm '", options_.realm,
                                        "' has no realm role '", role, "'"),
                           kReasonIdpRoleNotFound, {{"role", role}});
    }
    if (response.status != 200) {
      return Scrub(ErrorFromResponse(response, absl::StrCat("looking up realm role '", role, "'")));
    }
  }

  ASSIGN_OR_RETURN(HttpResponse profile, AdminCall("GET", "/users/profile", "", ""));
  if (IsRealmNotFound(profile.status, profile.body)) {
    return Scrub(ErrorFromResponse(profile, "reading the user profile"));
  }
  if (profile.status == 404 || profile.status == 403) {
    Log(LogLevel::kWarning,
        "cannot read the Keycloak realm's user profile; skipping the attribute check",
        {{"realm", options_.realm}, {"http_status", profile.status}});
    return absl::OkStatus();
  }
  if (profile.status != 200) return Scrub(ErrorFromResponse(profile, "reading the user profile"));
  json config = json::parse(profile.body, nullptr, /*allow_exceptions=*/false);
  if (!config.is_object()) {
    return absl::InternalError("Keycloak's user profile configuration is not a JSON object");
  }
  const std::string policy =
      config.contains("unmanagedAttributePolicy") && config["unmanagedAttributePolicy"].is_string()
          ? config["unmanagedAttributePolicy"].get<std::string>()
          : "";
  if (policy == "ENABLED" || policy == "ADMIN_EDIT") return absl::OkStatus();
  std::vector<std::string> missing;
  for (absl::string_view wanted : {kTenantIdAttribute, kInvitationIdAttribute}) {
    bool declared = false;
    if (config.contains("attributes") && config["attributes"].is_array()) {
      for (const json& a : config["attributes"]) {
        if (a.is_object() && a.value("name", "") == wanted) declared = true;
      }
    }
    if (!declared) missing.emplace_back(wanted);
  }
  if (!missing.empty()) {
    std::string names = absl::StrJoin(missing, ", ");
    return ReasonedError(
        absl::StatusCode::kFailedPrecondition,
        absl::StrCat("the user profile of Keycloak realm '", options_.realm,
                     "' does not declare ", names,
                     ", so Keycloak would silently drop them (import "
                     "deploy/keycloak/realm-securelink.json or declare them as admin-editable)"),
        kReasonIdpAttributeDropped, {{"attribute", names}});
  }
  return absl::OkStatus();
}

}  // namespace securelink::invitations
