#include "server/web/registration_site.h"

#include <openssl/crypto.h>
#include <openssl/rand.h>

#include <memory>
#include <optional>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/notification.h"
#include "server/domain/errors.h"
#include "server/domain/request_id.h"
#include "server/domain/token.h"
#include "server/mail/message.h"
#include "server/util/log.h"

namespace securelink::invitations::web {
namespace {

// Nothing but our own stylesheet may load; no script at all; the page may not be framed; the
// form may only post back to us.
constexpr char kContentSecurityPolicy[] =
    "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; "
    "frame-ancestors 'none'; base-uri 'none'";

std::string NewCsrfToken() {
  unsigned char bytes[32];
  if (RAND_bytes(bytes, sizeof bytes) != 1) std::abort();  // no entropy: nothing is safe
  return Base64UrlEncode(absl::string_view(reinterpret_cast<const char*>(bytes), sizeof bytes));
}

bool ConstantTimeEquals(absl::string_view a, absl::string_view b) {
  return a.size() == b.size() && CRYPTO_memcmp(a.data(), b.data(), a.size()) == 0;
}

// The same key the gRPC token RPCs use for a peer (PeerHost: IPv6 in brackets).
std::string RateLimitKey(const std::string& client_address) {
  return absl::StrContains(client_address, ':') ? absl::StrCat("[", client_address, "]")
                                                : client_address;
}

struct FormFields {
  std::string token;
  std::string first_name;
  std::string last_name;
  std::string username;
};

// How a failed service call ends for the invitee; ErrorPage shows the page for each.
AcceptOutcome OutcomeOf(const absl::Status& status) {
  const std::string reason = ReasonOf(status);
  if (reason == kReasonInvitationExpired) return AcceptOutcome::kExpired;
  if (reason == kReasonInvitationRevoked) return AcceptOutcome::kRevoked;
  if (reason == kReasonInvitationAlreadyAccepted) return AcceptOutcome::kAlreadyUsed;
  if (reason == kReasonTokenInvalid || absl::IsNotFound(status)) {
    return AcceptOutcome::kInvalidLink;
  }
  if (absl::IsResourceExhausted(status) || absl::IsUnavailable(status) ||
      absl::IsDeadlineExceeded(status)) {
    return AcceptOutcome::kUnavailable;
  }
  return AcceptOutcome::kError;
}

// The message key for a violation the service itself reports (InvitationService::Accept), or
// "" for any other: those come from Keycloak (its password policy, say), in its own words.
std::string ServiceViolationKey(absl::string_view description) {
  if (description == "is required") return "error.required";
  if (absl::StartsWith(description, "is longer than")) return "error.too_long";
  if (description == "contains a control character") return "error.control_character";
  return "";
}

bool IsDeadLinkReason(const std::string& reason) {
  return reason == kReasonTokenInvalid || reason == kReasonInvitationExpired ||
         reason == kReasonInvitationRevoked || reason == kReasonInvitationAlreadyAccepted;
}

// Runs `work` on `workers` and waits up to `timeout` for its result. RESOURCE_EXHAUSTED when the
// pool is full, DEADLINE_EXCEEDED when it takes longer (the work still finishes on its own: it
// owns everything it touches, so this caller may return first).
template <typename T>
absl::StatusOr<T> CallOnWorker(WorkerPool& workers, absl::Duration timeout,
                               std::function<T()> work) {
  struct Shared {
    absl::Notification done;
    std::optional<T> result;
  };
  auto shared = std::make_shared<Shared>();
  absl::Status submitted = workers.TrySubmit([shared, work = std::move(work)] {
    shared->result.emplace(work());
    shared->done.Notify();
  });
  if (!submitted.ok()) return absl::ResourceExhaustedError("the worker pool is full");
  if (!shared->done.WaitForNotificationWithTimeout(timeout)) {
    return absl::DeadlineExceededError("the service call did not finish in time");
  }
  return *std::move(shared->result);
}

}  // namespace

std::string OriginOf(absl::string_view url) {
  const std::string lower = absl::AsciiStrToLower(url);
  size_t scheme_end = lower.find("://");
  if (scheme_end == std::string::npos) return "";
  const std::string scheme = lower.substr(0, scheme_end);
  if (scheme != "http" && scheme != "https") return "";
  const size_t host_start = scheme_end + 3;
  const size_t host_end = lower.find_first_of("/?#", host_start);
  std::string host = lower.substr(host_start, host_end == std::string::npos
                                                  ? std::string::npos
                                                  : host_end - host_start);
  if (host.empty()) return "";
  // Browsers leave default ports out of Origin.
  if (scheme == "http" && absl::EndsWith(host, ":80")) host.resize(host.size() - 3);
  if (scheme == "https" && absl::EndsWith(host, ":443")) host.resize(host.size() - 4);
  return absl::StrCat(scheme, "://", host);
}

RegistrationSite::RegistrationSite(InvitationService& service, WorkerPool& workers,
                                   RateLimiter& rate_limiter, WebPages pages,
                                   RegistrationSiteOptions options, LinkLocaleLookup link_locale,
                                   AcceptObserver on_accept)
    : service_(service),
      workers_(workers),
      rate_limiter_(rate_limiter),
      pages_(std::move(pages)),
      options_(std::move(options)),
      link_locale_(std::move(link_locale)),
      on_accept_(std::move(on_accept)),
      https_(absl::StartsWith(absl::AsciiStrToLower(options_.registration_base_url), "https://")),
      public_origin_(OriginOf(options_.registration_base_url)) {}

void RegistrationSite::AddSecurityHeaders(HttpResponse& response) const {
  auto& h = response.headers;
  h.emplace_back("Content-Security-Policy", kContentSecurityPolicy);
  h.emplace_back("X-Content-Type-Options", "nosniff");
  h.emplace_back("X-Frame-Options", "DENY");
  // The page URL carries the registration token: never let it leave in a Referer.
  h.emplace_back("Referrer-Policy", "no-referrer");
  h.emplace_back("Cache-Control", "no-store");
  if (https_) h.emplace_back("Strict-Transport-Security", "max-age=31536000");
}

HttpResponse RegistrationSite::PageResponse(int status, Page page, const PageValues& values,
                                            const std::string& language) {
  HttpResponse response;
  response.status = status;
  response.headers.emplace_back("Content-Type", "text/html; charset=utf-8");
  response.headers.emplace_back("Content-Language", language);
  PageValues all = values;
  if (!all.count("login_url")) all["login_url"] = options_.login_url;
  response.body = pages_.Render(page, all, language);
  return response;
}

PageValues RegistrationSite::FormValues(const Invitation& invitation, const std::string& token,
                                        const std::string& first_name,
                                        const std::string& last_name, const std::string& username,
                                        const std::string& csrf_token,
                                        const std::string& language) const {
  PageValues v;
  v["email"] = invitation.email;
  v["role"] = pages_.Message(language, mail::RoleMessageKey(invitation.role));
  v["tenant"] = invitation.tenant_id.empty() ? pages_.Message(language, "tenant.none")
                                             : invitation.tenant_id;
  v["expire_time"] = pages_.FormatTime(language, invitation.expire_time);
  v["token"] = token;
  v["csrf_token"] = csrf_token;
  v["first_name"] = first_name;
  v["last_name"] = last_name;
  v["username"] = username;
  return v;
}

std::string RegistrationSite::DescribeViolation(const FieldViolation& v,
                                                const std::string& language) const {
  const std::map<std::string, std::string> args = {
      {"field", pages_.Message(language, absl::StrCat("field.", v.field))},
      {"detail", v.description}};
  const std::string key = ServiceViolationKey(v.description);
  return pages_.Message(language, key.empty() ? "error.rejected" : key, args);
}

HttpResponse RegistrationSite::Handle(const HttpRequest& request) {
  HttpResponse response;
  const bool read = request.method == "GET" || request.method == "HEAD";
  // Every POST of the form gets an outcome, also one refused before it reaches Submit.
  std::optional<AcceptOutcome> outcome;
  const bool form_post = request.path == "/register" && request.method == "POST";
  // The accept saga's events and log lines carry it; the response names it for the caller.
  const std::string request_id =
      RequestIdFor(request.Header(kRequestIdHeader), request.Header(kTraceparentHeader));
  if (request.body_too_large) {
    response = PageResponse(413, Page::kError);
    if (form_post) outcome = AcceptOutcome::kInvalidInput;
  } else if (request.path == "/static/style.css" && read) {
    response.headers.emplace_back("Content-Type", "text/css; charset=utf-8");
    response.body = pages_.stylesheet();
  } else if (request.path == "/register" && (read || request.method == "POST")) {
    if (!rate_limiter_.Allow(RateLimitKey(request.client_address))) {
      response = PageResponse(429, Page::kRateLimited);
      response.headers.emplace_back("Retry-After", "1");
      if (form_post) outcome = AcceptOutcome::kRateLimited;
    } else if (read) {
      response = ShowForm(request);
    } else {
      Submission submitted = Submit(request, request_id);
      response = std::move(submitted.response);
      outcome = submitted.outcome;
    }
  } else if (request.path == "/register" || request.path == "/static/style.css") {
    response = PageResponse(405, Page::kNotFound);
    response.headers.emplace_back("Allow", request.path == "/register" ? "GET, HEAD, POST"
                                                                       : "GET, HEAD");
  } else {
    response = PageResponse(404, Page::kNotFound);
  }
  AddSecurityHeaders(response);
  response.headers.emplace_back("X-Request-Id", request_id);
  if (outcome.has_value() && on_accept_) on_accept_(*outcome);
  return response;
}

HttpResponse RegistrationSite::ErrorPage(const absl::Status& status,
                                          const std::string& language) {
  switch (OutcomeOf(status)) {
    case AcceptOutcome::kExpired: return PageResponse(410, Page::kExpired, {}, language);
    case AcceptOutcome::kRevoked: return PageResponse(410, Page::kRevoked, {}, language);
    case AcceptOutcome::kAlreadyUsed: return PageResponse(410, Page::kUsed, {}, language);
    case AcceptOutcome::kInvalidLink: return PageResponse(404, Page::kInvalid, {}, language);
    case AcceptOutcome::kUnavailable: {
      HttpResponse busy = PageResponse(503, Page::kBusy, {}, language);
      busy.headers.emplace_back("Retry-After", "5");
      return busy;
    }
    default: break;
  }
  Log(LogLevel::kError, "registration page: unexpected error", {{"error", status.ToString()}});
  return PageResponse(500, Page::kError, {}, language);
}

HttpResponse RegistrationSite::ShowForm(const HttpRequest& request) {
  FormFields typed;
  typed.token = FormValue(request.query, "token");
  if (typed.token.empty()) return PageResponse(404, Page::kInvalid);
  struct Found {
    absl::StatusOr<Invitation> invitation;
    std::string dead_link_locale;  // of a link that may not be used any more
  };
  absl::StatusOr<Found> found = CallOnWorker<Found>(
      workers_, options_.work_timeout,
      [&service = service_, lookup = link_locale_, token = typed.token] {
        Found f{service.ValidateToken(token), ""};
        if (!f.invitation.ok() && lookup && IsDeadLinkReason(ReasonOf(f.invitation.status()))) {
          f.dead_link_locale = lookup(token);
        }
        return f;
      });
  if (!found.ok()) return ErrorPage(found.status());
  if (!found->invitation.ok()) {
    return ErrorPage(found->invitation.status(), pages_.LanguageFor(found->dead_link_locale));
  }
  const Invitation& invitation = *found->invitation;
  const std::string language = pages_.LanguageFor(invitation.locale);
  typed.username = invitation.email;
  const std::string csrf = NewCsrfToken();
  HttpResponse response = PageResponse(
      200, Page::kRegister,
      FormValues(invitation, typed.token, typed.first_name, typed.last_name, typed.username, csrf,
                 language),
      language);
  response.headers.emplace_back(
      "Set-Cookie", absl::StrCat(kCsrfCookie, "=", csrf, "; Path=/; HttpOnly; SameSite=Strict",
                                 https_ ? "; Secure" : ""));
  return response;
}

bool RegistrationSite::OriginAllowed(const HttpRequest& request) const {
  // Fetch metadata, where the browser sends it, names a cross-site form outright.
  if (request.Header("sec-fetch-site") == "cross-site") return false;
  const std::string origin = absl::AsciiStrToLower(request.Header("origin"));
  // Under Referrer-Policy: no-referrer browsers send "null" with our own form (SPEC §9): the
  // CSRF token and cookie decide then.
  if (origin.empty() || origin == "null") return true;
  if (!public_origin_.empty() && origin == public_origin_) return true;
  const std::string host = absl::AsciiStrToLower(request.Header("host"));
  return !host.empty() && origin == OriginOf(absl::StrCat(request.tls ? "https://" : "http://",
                                                          host, "/"));
}

RegistrationSite::Submission RegistrationSite::Submit(const HttpRequest& request,
                                                     const std::string& request_id) {
  const std::string csrf_field = FormValue(request.body, "csrf_token");
  const std::string csrf_cookie = CookieValue(request.Header("cookie"), kCsrfCookie);
  if (!OriginAllowed(request) || csrf_field.empty() ||
      !ConstantTimeEquals(csrf_field, csrf_cookie)) {
    Log(LogLevel::kWarning, "registration form refused (Origin or CSRF check)",
        {{"client", request.client_address}});
    // Only the language is looked up: nothing of a refused form reaches the service.
    std::string locale;
    const std::string token = FormValue(request.body, "token");
    if (link_locale_ && !token.empty()) {
      locale = CallOnWorker<std::string>(workers_, options_.work_timeout,
                                         [lookup = link_locale_, token] { return lookup(token); })
                   .value_or("");
    }
    return {PageResponse(403, Page::kRefused, {}, pages_.LanguageFor(locale)),
            AcceptOutcome::kRefused};
  }
  FormFields typed;
  typed.token = FormValue(request.body, "token");
  typed.first_name = FormValue(request.body, "first_name");
  typed.last_name = FormValue(request.body, "last_name");
  typed.username = FormValue(request.body, "username");
  if (typed.token.empty()) return {PageResponse(404, Page::kInvalid), AcceptOutcome::kInvalidLink};
  AcceptInvitationInput in;
  in.token = typed.token;
  in.password = FormValue(request.body, "password");
  in.first_name = typed.first_name;
  in.last_name = typed.last_name;
  in.username = typed.username;
  in.request_id = request_id;
  // Caught here, before anything reaches Keycloak.
  const bool mismatch = in.password != FormValue(request.body, "password_confirm");
  // The realm's user profile requires a first and a last name of users. Keycloak's Admin API
  // creates an account without them, whose owner then meets a profile form at the first login
  // (VERIFY_PROFILE): this page asks for them instead.
  const bool first_name_missing = absl::StripAsciiWhitespace(typed.first_name).empty();
  const bool last_name_missing = absl::StripAsciiWhitespace(typed.last_name).empty();
  const bool caught_here = mismatch || first_name_missing || last_name_missing;

  struct Outcome {
    std::optional<absl::StatusOr<Invitation>> accepted;
    std::optional<absl::StatusOr<Invitation>> current;  // to show the form again
    std::string dead_link_locale;                       // of a link that may not be used any more
  };
  absl::StatusOr<Outcome> outcome = CallOnWorker<Outcome>(
      workers_, options_.work_timeout,
      [&service = service_, lookup = link_locale_, in, caught_here] {
        Outcome o;
        auto note_dead_link = [&](const absl::Status& status) {
          if (lookup && IsDeadLinkReason(ReasonOf(status))) o.dead_link_locale = lookup(in.token);
        };
        if (!caught_here) {
          o.accepted = service.Accept(in);
          if (o.accepted->ok()) return o;
          if (IsDeadLinkReason(ReasonOf(o.accepted->status()))) {
            note_dead_link(o.accepted->status());
            return o;
          }
        }
        o.current = service.ValidateToken(in.token);
        if (!o.current->ok()) note_dead_link(o.current->status());
        return o;
      });
  if (!outcome.ok()) return {ErrorPage(outcome.status()), OutcomeOf(outcome.status())};
  const std::optional<absl::StatusOr<Invitation>>& accepted = outcome->accepted;
  const std::optional<absl::StatusOr<Invitation>>& current = outcome->current;
  const std::string dead_link_language = pages_.LanguageFor(outcome->dead_link_locale);
  if (accepted.has_value() && accepted->ok()) {
    const std::string language = pages_.LanguageFor((*accepted)->locale);
    PageValues values;
    values["username"] = in.username.empty() ? (*accepted)->email : in.username;
    HttpResponse response = PageResponse(200, Page::kSuccess, values, language);
    // The form is spent: a resubmission finds no cookie and is refused.
    response.headers.emplace_back(
        "Set-Cookie", absl::StrCat(kCsrfCookie, "=; Path=/; Max-Age=0; HttpOnly; SameSite=Strict",
                                   https_ ? "; Secure" : ""));
    return {std::move(response), AcceptOutcome::kAccepted};
  }
  if (!current.has_value()) {
    return {ErrorPage(accepted->status(), dead_link_language), OutcomeOf(accepted->status())};
  }
  if (!current->ok()) {
    return {ErrorPage(current->status(), dead_link_language), OutcomeOf(current->status())};
  }

  // Show the form again with the other fields kept (never the password) and the problem next
  // to its field.
  const std::string language = pages_.LanguageFor((*current)->locale);
  const std::string csrf = NewCsrfToken();
  PageValues values = FormValues(**current, typed.token, typed.first_name, typed.last_name,
                                 typed.username, csrf, language);
  int status = 400;
  AcceptOutcome result = AcceptOutcome::kInvalidInput;
  if (caught_here) {
    if (mismatch) {
      values["password_confirm_error"] = pages_.Message(language, "error.password_mismatch");
    }
    if (first_name_missing) {
      values["first_name_error"] = DescribeViolation({"first_name", "is required"}, language);
    }
    if (last_name_missing) {
      values["last_name_error"] = DescribeViolation({"last_name", "is required"}, language);
    }
  } else {
    const absl::Status& error = accepted->status();
    const ErrorDetails details = GetErrorDetails(error);
    bool shown = false;
    for (const FieldViolation& v : details.field_violations) {
      if (v.field == "first_name" || v.field == "last_name" || v.field == "username" ||
          v.field == "password") {
        std::string& slot = values[absl::StrCat(v.field, "_error")];
        if (slot.empty()) slot = DescribeViolation(v, language);
        shown = true;
        if (v.field == "password" && ServiceViolationKey(v.description).empty()) {
          result = AcceptOutcome::kPasswordPolicy;
        }
      }
    }
    if (details.reason == "USERNAME_TAKEN") {
      values["username_error"] =
          pages_.Message(language, "error.username_taken", {{"username", in.username}});
      shown = true;
      result = AcceptOutcome::kUsernameTaken;
    }
    if (!shown) {
      if (absl::IsAlreadyExists(error)) {
        values["form_error"] = pages_.Message(language, "error.account_exists");
        status = 409;
        result = AcceptOutcome::kAccountExists;
      } else if (absl::IsInvalidArgument(error)) {
        values["form_error"] =
            pages_.Message(language, "error.not_accepted", {{"detail", std::string(error.message())}});
        status = 400;
      } else if (absl::IsUnavailable(error) || absl::IsDeadlineExceeded(error) ||
                 absl::IsResourceExhausted(error)) {
        values["form_error"] = pages_.Message(language, "error.unavailable");
        status = 503;
        result = AcceptOutcome::kUnavailable;
      } else {
        return {ErrorPage(error, language), OutcomeOf(error)};
      }
    }
  }
  HttpResponse response = PageResponse(status, Page::kRegister, values, language);
  response.headers.emplace_back(
      "Set-Cookie", absl::StrCat(kCsrfCookie, "=", csrf, "; Path=/; HttpOnly; SameSite=Strict",
                                 https_ ? "; Secure" : ""));
  return {std::move(response), result};
}

}  // namespace securelink::invitations::web
