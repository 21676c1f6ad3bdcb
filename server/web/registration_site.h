// The registration page: GET /register?token=… shows the invitation and the form,
// POST /register accepts it through the same InvitationService calls as the
// ValidateInvitationToken and AcceptInvitation RPCs. Blocking service calls run on the shared
// WorkerPool; overload is a 503 page, a client over the token-RPC rate limit a 429 page.
#ifndef SECURELINK_SERVER_WEB_REGISTRATION_SITE_H_
#define SECURELINK_SERVER_WEB_REGISTRATION_SITE_H_

#include <functional>
#include <string>

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "server/domain/errors.h"
#include "server/invitation_service.h"
#include "server/rate_limiter.h"
#include "server/web/http.h"
#include "server/web/page_events.h"
#include "server/web/web_pages.h"
#include "server/util/worker_pool.h"

namespace securelink::invitations::web {

struct RegistrationSiteOptions {
  // Where the success page (and the "already used" page) send the new user.
  std::string login_url;
  // The public URL of the page (--registration_base_url). An https:// URL means the page is
  // reached over TLS (possibly terminated in front of us): HSTS and Secure cookies. Its origin
  // is the one the Origin check accepts besides the request's own Host.
  std::string registration_base_url;
  // Longest wait for a worker to finish one service call before answering 503.
  absl::Duration work_timeout = absl::Seconds(30);
};

// Name of the cookie that carries the per-page CSRF token.
inline constexpr char kCsrfCookie[] = "securelink_csrf";

// The stored locale of the invitation a registration link belongs to, whatever its state, or ""
// when the link is unknown (or cannot be looked up now). Lets the dead-link pages (expired,
// revoked, used) speak the invitation's language. Blocking: called on a worker; thread-safe.
using LinkLocaleLookup = std::function<std::string(const std::string& token)>;

// Told how each POST of the registration form ended (page_events.h): one call per POST to
// /register. Called on the page's handler threads, concurrently; must not block.
using AcceptObserver = std::function<void(AcceptOutcome outcome)>;

class RegistrationSite {
 public:
  // `service`, `workers` and `rate_limiter` must outlive the site. `rate_limiter` is the one the
  // token RPCs use, so a client's budget is shared between the page and the RPCs. Pages of an
  // invitation are in its locale (SPEC §11: never the browser's Accept-Language); without
  // `link_locale`, a dead link's page is in English. `on_accept`, when given, learns the outcome
  // of every form submission.
  RegistrationSite(InvitationService& service, WorkerPool& workers, RateLimiter& rate_limiter,
                   WebPages pages, RegistrationSiteOptions options,
                   LinkLocaleLookup link_locale = nullptr, AcceptObserver on_accept = nullptr);

  // Answers one request; thread-safe. Every response carries the security headers
  // (SecurityHeaders) whatever its status.
  HttpResponse Handle(const HttpRequest& request);

 private:
  // A form submission's page and how it ended for the invitee.
  struct Submission {
    HttpResponse response;
    AcceptOutcome outcome;
  };

  HttpResponse ShowForm(const HttpRequest& request);
  Submission Submit(const HttpRequest& request, const std::string& request_id);
  // The page for a failed service call, in `language`: a dead-link page for token reasons, 503
  // for overload and outages, 500 otherwise.
  HttpResponse ErrorPage(const absl::Status& status, const std::string& language = "en");
  // `page` in `language` (a tag WebPages has), with Content-Language saying so.
  HttpResponse PageResponse(int status, Page page, const PageValues& values = {},
                            const std::string& language = "en");
  // The form's placeholders for `invitation` in `language`, keeping what the invitee typed.
  PageValues FormValues(const Invitation& invitation, const std::string& token,
                        const std::string& first_name, const std::string& last_name,
                        const std::string& username, const std::string& csrf_token,
                        const std::string& language) const;
  // What the form shows next to a field for a violation the service or Keycloak reported.
  std::string DescribeViolation(const FieldViolation& v, const std::string& language) const;
  bool OriginAllowed(const HttpRequest& request) const;
  void AddSecurityHeaders(HttpResponse& response) const;

  InvitationService& service_;
  WorkerPool& workers_;
  RateLimiter& rate_limiter_;
  const WebPages pages_;
  const RegistrationSiteOptions options_;
  const LinkLocaleLookup link_locale_;
  const AcceptObserver on_accept_;
  const bool https_;
  const std::string public_origin_;  // scheme://host[:port] of registration_base_url
};

// The origin (scheme://host[:port], lower-cased) of an absolute http(s) URL; "" if it is not one.
std::string OriginOf(absl::string_view url);

}  // namespace securelink::invitations::web

#endif  // SECURELINK_SERVER_WEB_REGISTRATION_SITE_H_
