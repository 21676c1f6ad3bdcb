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
constexpr char kNoTenant[] = "none (global access)";

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

// What the form shows next to a field for a violation Keycloak or the service reported.
std::string DescribeViolation(const FieldViolation& v) {
  if (!v.description.empty() && absl::ascii_isupper(v.description.front())) return v.description;
  std::string label = v.field;
  for (char& c : label) c = c == '_' ? ' ' : c;
  label[0] = absl::ascii_toupper(label[0]);
  return absl::StrCat(label, " ", v.description);
}

struct FormFields {
  std::string token;
  std::string first_name;
  std::string last_name;
  std::string username;
};

// The form's placeholders for `invitation`, keeping what the invitee already typed.
PageValues FormValues(const Invitation& invitation, const FormFields& typed,
                      const std::string& csrf_token) {
  PageValues v;
  v["email"] = invitation.email;
  v["role"] = mail::RoleDisplayName(invitation.role);
  v["tenant"] = invitation.tenant_id.empty() ? kNoTenant : invitation.tenant_id;
  v["expire_time"] = mail::FormatExpireTime(invitation.expire_time);
  v["token"] = typed.token;
  v["csrf_token"] = csrf_token;
  v["first_name"] = typed.first_name;
  v["last_name"] = typed.last_name;
  v["username"] = typed.username;
  return v;
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
                                   RegistrationSiteOptions options)
    : service_(service),
      workers_(workers),
      rate_limiter_(rate_limiter),
      pages_(std::move(pages)),
      options_(std::move(options)),
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

HttpResponse RegistrationSite::PageResponse(int status, Page page, const PageValues& values) {
  HttpResponse response;
  response.status = status;
  response.headers.emplace_back("Content-Type", "text/html; charset=utf-8");
  PageValues all = values;
  if (!all.count("login_url")) all["login_url"] = options_.login_url;
  response.body = pages_.Render(page, all);
  return response;
}

HttpResponse RegistrationSite::Handle(const HttpRequest& request) {
  HttpResponse response;
  const bool read = request.method == "GET" || request.method == "HEAD";
  if (request.body_too_large) {
    response = PageResponse(413, Page::kError);
  } else if (request.path == "/static/style.css" && read) {
    response.headers.emplace_back("Content-Type", "text/css; charset=utf-8");
    response.body = pages_.stylesheet();
  } else if (request.path == "/register" && (read || request.method == "POST")) {
    if (!rate_limiter_.Allow(RateLimitKey(request.client_address))) {
      response = PageResponse(429, Page::kRateLimited);
      response.headers.emplace_back("Retry-After", "1");
    } else {
      response = read ? ShowForm(request) : Submit(request);
    }
  } else if (request.path == "/register" || request.path == "/static/style.css") {
    response = PageResponse(405, Page::kNotFound);
    response.headers.emplace_back("Allow", request.path == "/register" ? "GET, HEAD, POST"
                                                                       : "GET, HEAD");
  } else {
    response = PageResponse(404, Page::kNotFound);
  }
  AddSecurityHeaders(response);
  return response;
}

HttpResponse RegistrationSite::ErrorPage(const absl::Status& status) {
  const std::string reason = ReasonOf(status);
  if (reason == kReasonInvitationExpired) return PageResponse(410, Page::kExpired);
  if (reason == kReasonInvitationRevoked) return PageResponse(410, Page::kRevoked);
  if (reason == kReasonInvitationAlreadyAccepted) return PageResponse(410, Page::kUsed);
  if (reason == kReasonTokenInvalid || absl::IsNotFound(status)) {
    return PageResponse(404, Page::kInvalid);
  }
  if (absl::IsResourceExhausted(status) || absl::IsUnavailable(status) ||
      absl::IsDeadlineExceeded(status)) {
    HttpResponse busy = PageResponse(503, Page::kBusy);
    busy.headers.emplace_back("Retry-After", "5");
    return busy;
  }
  Log(LogLevel::kError, "registration page: unexpected error", {{"error", status.ToString()}});
  return PageResponse(500, Page::kError);
}

HttpResponse RegistrationSite::ShowForm(const HttpRequest& request) {
  FormFields typed;
  typed.token = FormValue(request.query, "token");
  if (typed.token.empty()) return PageResponse(404, Page::kInvalid);
  absl::StatusOr<absl::StatusOr<Invitation>> found = CallOnWorker<absl::StatusOr<Invitation>>(
      workers_, options_.work_timeout,
      [&service = service_, token = typed.token] { return service.ValidateToken(token); });
  if (!found.ok()) return ErrorPage(found.status());
  if (!found->ok()) return ErrorPage(found->status());
  typed.username = (*found)->email;
  const std::string csrf = NewCsrfToken();
  HttpResponse response = PageResponse(200, Page::kRegister, FormValues(**found, typed, csrf));
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

HttpResponse RegistrationSite::Submit(const HttpRequest& request) {
  const std::string csrf_field = FormValue(request.body, "csrf_token");
  const std::string csrf_cookie = CookieValue(request.Header("cookie"), kCsrfCookie);
  if (!OriginAllowed(request) || csrf_field.empty() ||
      !ConstantTimeEquals(csrf_field, csrf_cookie)) {
    Log(LogLevel::kWarning, "registration form refused (Origin or CSRF check)",
        {{"client", request.client_address}});
    return PageResponse(403, Page::kRefused);
  }
  FormFields typed;
  typed.token = FormValue(request.body, "token");
  typed.first_name = FormValue(request.body, "first_name");
  typed.last_name = FormValue(request.body, "last_name");
  typed.username = FormValue(request.body, "username");
  if (typed.token.empty()) return PageResponse(404, Page::kInvalid);
  AcceptInvitationInput in;
  in.token = typed.token;
  in.password = FormValue(request.body, "password");
  in.first_name = typed.first_name;
  in.last_name = typed.last_name;
  in.username = typed.username;
  // Caught here, before anything reaches Keycloak.
  const bool mismatch = in.password != FormValue(request.body, "password_confirm");

  struct Outcome {
    std::optional<absl::StatusOr<Invitation>> accepted;
    std::optional<absl::StatusOr<Invitation>> current;  // to show the form again
  };
  absl::StatusOr<Outcome> outcome = CallOnWorker<Outcome>(
      workers_, options_.work_timeout, [&service = service_, in, mismatch] {
        Outcome o;
        if (!mismatch) {
          o.accepted = service.Accept(in);
          if (o.accepted->ok()) return o;
          const std::string reason = ReasonOf(o.accepted->status());
          if (reason == kReasonTokenInvalid || reason == kReasonInvitationExpired ||
              reason == kReasonInvitationRevoked || reason == kReasonInvitationAlreadyAccepted) {
            return o;
          }
        }
        o.current = service.ValidateToken(in.token);
        return o;
      });
  if (!outcome.ok()) return ErrorPage(outcome.status());
  const std::optional<absl::StatusOr<Invitation>>& accepted = outcome->accepted;
  const std::optional<absl::StatusOr<Invitation>>& current = outcome->current;
  if (accepted.has_value() && accepted->ok()) {
    PageValues values;
    values["username"] = in.username.empty() ? (*accepted)->email : in.username;
    HttpResponse response = PageResponse(200, Page::kSuccess, values);
    // The form is spent: a resubmission finds no cookie and is refused.
    response.headers.emplace_back(
        "Set-Cookie", absl::StrCat(kCsrfCookie, "=; Path=/; Max-Age=0; HttpOnly; SameSite=Strict",
                                   https_ ? "; Secure" : ""));
    return response;
  }
  if (!current.has_value()) return ErrorPage(accepted->status());
  if (!current->ok()) return ErrorPage(current->status());

  // Show the form again with the other fields kept (never the password) and the problem next
  // to its field.
  const std::string csrf = NewCsrfToken();
  PageValues values = FormValues(**current, typed, csrf);
  int status = 400;
  if (mismatch) {
    values["password_confirm_error"] = "The two passwords do not match.";
  } else {
    const absl::Status& error = accepted->status();
    const ErrorDetails details = GetErrorDetails(error);
    bool shown = false;
    for (const FieldViolation& v : details.field_violations) {
      if (v.field == "first_name" || v.field == "last_name" || v.field == "username" ||
          v.field == "password") {
        std::string& slot = values[absl::StrCat(v.field, "_error")];
        if (slot.empty()) slot = DescribeViolation(v);
        shown = true;
      }
    }
    if (details.reason == "USERNAME_TAKEN") {
      values["username_error"] = std::string(error.message());
      shown = true;
    }
    if (!shown) {
      if (absl::IsAlreadyExists(error) || absl::IsInvalidArgument(error)) {
        values["form_error"] = std::string(error.message());
        status = absl::IsAlreadyExists(error) ? 409 : 400;
      } else if (absl::IsUnavailable(error) || absl::IsDeadlineExceeded(error) ||
                 absl::IsResourceExhausted(error)) {
        values["form_error"] =
            "Your account could not be created right now because a service it needs is "
            "unavailable. Nothing has been changed; please try again in a few minutes.";
        status = 503;
      } else {
        return ErrorPage(error);
      }
    }
  }
  HttpResponse response = PageResponse(status, Page::kRegister, values);
  response.headers.emplace_back(
      "Set-Cookie", absl::StrCat(kCsrfCookie, "=", csrf, "; Path=/; HttpOnly; SameSite=Strict",
                                 https_ ? "; Secure" : ""));
  return response;
}

}  // namespace securelink::invitations::web
