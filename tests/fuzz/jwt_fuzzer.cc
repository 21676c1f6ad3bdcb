// libFuzzer target: bearer-token verification (server/auth/jwt_verifier.h).
// An input starting with '{' is "header JSON \n claims JSON": the target signs it with its own
// RS256 key, so the fuzzer reaches the claim checks behind the signature. Any other input is
// handed over as a raw compact token (and an `authorization` header value). Checked besides
// crashes: a raw token is never accepted (nobody but this process holds the key), refusals are
// UNAUTHENTICATED, and an accepted token has a subject and an unexpired `exp`.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <memory>
#include <string>

#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "server/auth/jwt_verifier.h"
#include "server/domain/clock.h"
#include "server/domain/token.h"
#include "tests/auth/jwt_test_keys.h"

namespace {

using namespace securelink::invitations;  // NOLINT: a fuzz target, not a library

void Require(bool condition, const char* what) {
  if (!condition) {
    __builtin_printf("property violated: %s\n", what);
    std::abort();
  }
}

// Seeds in tests/fuzz/corpus/jwt carry claims valid at this instant.
const absl::Time kNow = absl::FromUnixSeconds(1700000000);

struct Fixture {
  std::shared_ptr<EVP_PKEY> key = securelink::testing::GenerateRsaKey(2048);
  ManualClock clock{kNow};
  JwtVerifier verifier{std::make_shared<PemKeySource>(key),
                       JwtOptions{securelink::testing::kIssuer, securelink::testing::kAudience},
                       clock};
};

std::string Sign(absl::string_view header, absl::string_view claims, EVP_PKEY* key) {
  std::string input = Base64UrlEncode(header) + "." + Base64UrlEncode(claims);
  return input + "." +
         Base64UrlEncode(securelink::testing::RawRs256Signature(input, key));
}

void CheckVerdict(const absl::StatusOr<VerifiedToken>& verdict) {
  if (verdict.ok()) {
    Require(!verdict->subject.empty(), "accepted a token without a subject");
    Require(verdict->expires + absl::Seconds(30) > kNow, "accepted an expired token");
  } else {
    Require(verdict.status().code() == absl::StatusCode::kUnauthenticated,
            "refusal is not UNAUTHENTICATED");
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static Fixture* fixture = new Fixture();
  const absl::string_view input(reinterpret_cast<const char*>(data), size);
  if (!input.empty() && input.front() == '{') {
    const size_t newline = input.find('\n');
    if (newline == absl::string_view::npos) return 0;
    CheckVerdict(fixture->verifier.Verify(
        Sign(input.substr(0, newline), input.substr(newline + 1), fixture->key.get())));
    return 0;
  }
  absl::StatusOr<VerifiedToken> verdict = fixture->verifier.Verify(input);
  Require(!verdict.ok(), "accepted a token this process did not sign");
  CheckVerdict(verdict);
  absl::StatusOr<absl::string_view> bearer = BearerToken(input);
  if (bearer.ok()) Require(!bearer->empty(), "empty bearer token accepted");
  return 0;
}
