// What the registration page reports about itself, in fixed vocabularies: the route a request
// went to and how a form submission ended. Metrics label their series with these names, so
// nothing a client chose (a path, a token, an email) can ever become a label value.
// Header-only: server/metrics names the series without linking the page.
#ifndef SECURELINK_SERVER_WEB_PAGE_EVENTS_H_
#define SECURELINK_SERVER_WEB_PAGE_EVENTS_H_

#include <array>

#include "absl/strings/string_view.h"

namespace securelink::invitations::web {

// The page's routes as templates. Everything the site does not serve is kOther.
enum class PageRoute { kRegister, kStylesheet, kOther };

inline constexpr std::array<PageRoute, 3> kPageRoutes = {PageRoute::kRegister,
                                                          PageRoute::kStylesheet,
                                                          PageRoute::kOther};

// The route a request path belongs to. `path` is the decoded path without its query; "" (a
// request refused before its request line could be read) is kOther.
inline PageRoute PageRouteOf(absl::string_view path) {
  if (path == "/register") return PageRoute::kRegister;
  if (path == "/static/style.css") return PageRoute::kStylesheet;
  return PageRoute::kOther;
}

// The route's label value: its path template, or "other".
inline absl::string_view PageRouteName(PageRoute route) {
  switch (route) {
    case PageRoute::kRegister: return "/register";
    case PageRoute::kStylesheet: return "/static/style.css";
    case PageRoute::kOther: break;
  }
  return "other";
}

// How one POST of the registration form ended, as far as the invitee is concerned.
enum class AcceptOutcome {
  kAccepted,        // the account exists; the success page was shown
  kInvalidInput,    // a field the service checks (required, length, control characters), the
                    // two passwords differing, or another refusal of what was typed
  kPasswordPolicy,  // Keycloak's password policy refused the password
  kUsernameTaken,   // the chosen username belongs to another account
  kAccountExists,   // an account with the invitation's email exists already
  kInvalidLink,     // no token, or an unknown, malformed or superseded one
  kExpired,
  kRevoked,
  kAlreadyUsed,
  kRefused,      // the Origin or CSRF check failed: nothing reached the service
  kRateLimited,  // over the per-address budget shared with the token RPCs
  kUnavailable,  // overload, or the database or Keycloak unreachable: try again later
  kError,        // anything else (a 500 page)
};

inline constexpr std::array<AcceptOutcome, 13> kAcceptOutcomes = {
    AcceptOutcome::kAccepted,     AcceptOutcome::kInvalidInput,  AcceptOutcome::kPasswordPolicy,
    AcceptOutcome::kUsernameTaken, AcceptOutcome::kAccountExists, AcceptOutcome::kInvalidLink,
    AcceptOutcome::kExpired,      AcceptOutcome::kRevoked,       AcceptOutcome::kAlreadyUsed,
    AcceptOutcome::kRefused,      AcceptOutcome::kRateLimited,   AcceptOutcome::kUnavailable,
    AcceptOutcome::kError};

// The outcome's label value (snake_case).
inline absl::string_view AcceptOutcomeName(AcceptOutcome outcome) {
  switch (outcome) {
    case AcceptOutcome::kAccepted: return "accepted";
    case AcceptOutcome::kInvalidInput: return "invalid_input";
    case AcceptOutcome::kPasswordPolicy: return "password_policy";
    case AcceptOutcome::kUsernameTaken: return "username_taken";
    case AcceptOutcome::kAccountExists: return "account_exists";
    case AcceptOutcome::kInvalidLink: return "invalid_link";
    case AcceptOutcome::kExpired: return "expired";
    case AcceptOutcome::kRevoked: return "revoked";
    case AcceptOutcome::kAlreadyUsed: return "already_used";
    case AcceptOutcome::kRefused: return "refused";
    case AcceptOutcome::kRateLimited: return "rate_limited";
    case AcceptOutcome::kUnavailable: return "unavailable";
    case AcceptOutcome::kError: break;
  }
  return "error";
}

}  // namespace securelink::invitations::web

#endif  // SECURELINK_SERVER_WEB_PAGE_EVENTS_H_
