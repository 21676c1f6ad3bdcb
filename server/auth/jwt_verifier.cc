#include "server/auth/jwt_verifier.h"

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/param_build.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>
#include <openssl/x509.h>

#include <cmath>
#include <cstdint>
#include <fstream>
#include <optional>
#include <sstream>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "nlohmann/json.hpp"
#include "server/auth/base64url.h"
#include "server/domain/errors.h"
#include "server/http/curl_http_client.h"
#include "server/util/log.h"

namespace securelink::invitations {
namespace {

using json = nlohmann::json;

// RFC 8725 §3.5 / NIST: shorter RSA keys are refused wherever a key enters the process.
constexpr int kMinRsaBits = 2048;
// gRPC refuses metadata beyond 8 KiB by default; anything longer than this is not a token of ours,
// and the cap bounds the work done before the signature is checked.
constexpr size_t kMaxTokenBytes = 16 * 1024;
constexpr size_t kMaxJwksBytes = 1024 * 1024;
// NumericDate values beyond year 9999 are refused rather than risking overflow.
constexpr double kMaxNumericDate = 253402300799.0;

std::shared_ptr<EVP_PKEY> Own(EVP_PKEY* key) {
  return std::shared_ptr<EVP_PKEY>(key, [](EVP_PKEY* k) { EVP_PKEY_free(k); });
}

// OK if `key` is an RSA key of at least kMinRsaBits.
absl::Status CheckRsaKey(EVP_PKEY* key) {
  if (EVP_PKEY_get_base_id(key) != EVP_PKEY_RSA) {
    return absl::InvalidArgumentError("the key is not an RSA key (RS256 needs one)");
  }
  if (EVP_PKEY_get_bits(key) < kMinRsaBits) {
    return absl::InvalidArgumentError(absl::StrCat("the RSA key has ", EVP_PKEY_get_bits(key),
                                                   " bits; at least ", kMinRsaBits,
                                                   " are required"));
  }
  return absl::OkStatus();
}

absl::Status Unauthenticated(absl::string_view why,
                             absl::string_view reason = kReasonAuthTokenInvalid) {
  return ReasonedError(absl::StatusCode::kUnauthenticated, absl::StrCat("bearer token ", why),
                       reason);
}

// A JSON object from base64url `segment`, or nullopt.
std::optional<json> DecodeJsonObject(absl::string_view segment) {
  absl::StatusOr<std::string> raw = Base64UrlDecodeStrict(segment);
  if (!raw.ok()) return std::nullopt;
  json parsed = json::parse(*raw, /*cb=*/nullptr, /*allow_exceptions=*/false);
  if (parsed.is_discarded() || !parsed.is_object()) return std::nullopt;
  return parsed;
}

// The NumericDate (RFC 7519 §2) in `v`: an integer or a fraction of seconds since the epoch.
std::optional<absl::Time> NumericDate(const json& v) {
  double seconds = 0;
  if (v.is_number_unsigned()) {
    uint64_t u = v.get<uint64_t>();
    if (u > static_cast<uint64_t>(kMaxNumericDate)) return std::nullopt;
    return absl::FromUnixSeconds(static_cast<int64_t>(u));
  }
  if (v.is_number_integer()) {
    int64_t i = v.get<int64_t>();
    if (i < -static_cast<int64_t>(kMaxNumericDate) || i > static_cast<int64_t>(kMaxNumericDate)) {
      return std::nullopt;
    }
    return absl::FromUnixSeconds(i);
  }
  if (v.is_number_float()) {
    seconds = v.get<double>();
    if (!std::isfinite(seconds) || std::fabs(seconds) > kMaxNumericDate) return std::nullopt;
    return absl::UnixEpoch() + absl::Seconds(seconds);
  }
  return std::nullopt;
}

// The string in `v` when it is a string or an array of exactly one string; "" otherwise.
std::string SingleString(const json& v) {
  if (v.is_string()) return v.get<std::string>();
  if (v.is_array() && v.size() == 1 && v[0].is_string()) return v[0].get<std::string>();
  return "";
}

// EVP_DigestVerify with SHA-256 and PKCS#1 v1.5 padding (RS256, RFC 7518 §3.3).
bool VerifyRs256(EVP_PKEY* key, absl::string_view signing_input, absl::string_view signature) {
  // RFC 8017 §8.2.2: the signature is exactly k octets, k the modulus length.
  if (signature.size() != static_cast<size_t>(EVP_PKEY_get_size(key))) return false;
  std::unique_ptr<EVP_MD_CTX, decltype(&EVP_MD_CTX_free)> md(EVP_MD_CTX_new(), &EVP_MD_CTX_free);
  if (md == nullptr) return false;
  EVP_PKEY_CTX* pctx = nullptr;  // owned by md
  bool ok = EVP_DigestVerifyInit(md.get(), &pctx, EVP_sha256(), nullptr, key) == 1 &&
            EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PADDING) == 1 &&
            EVP_DigestVerify(md.get(), reinterpret_cast<const unsigned char*>(signature.data()),
                             signature.size(),
                             reinterpret_cast<const unsigned char*>(signing_input.data()),
                             signing_input.size()) == 1;
  ERR_clear_error();  // failures leave entries on this thread's OpenSSL error queue
  return ok;
}

// An RSA public key from the big-endian modulus and exponent of a JWK.
absl::StatusOr<std::shared_ptr<EVP_PKEY>> RsaPublicKeyFromComponents(absl::string_view n_bytes,
                                                                     absl::string_view e_bytes) {
  using BnPtr = std::unique_ptr<BIGNUM, decltype(&BN_free)>;
  BnPtr n(BN_bin2bn(reinterpret_cast<const unsigned char*>(n_bytes.data()),
                    static_cast<int>(n_bytes.size()), nullptr),
          &BN_free);
  BnPtr e(BN_bin2bn(reinterpret_cast<const unsigned char*>(e_bytes.data()),
                    static_cast<int>(e_bytes.size()), nullptr),
          &BN_free);
  if (n == nullptr || e == nullptr) return absl::InternalError("BN_bin2bn failed");
  // An even or tiny exponent is never a real RSA key (e = 1 would make every "signature" valid).
  if (!BN_is_odd(e.get()) || BN_num_bits(e.get()) < 2) {
    return absl::InvalidArgumentError("unusable RSA exponent");
  }
  std::unique_ptr<OSSL_PARAM_BLD, decltype(&OSSL_PARAM_BLD_free)> builder(OSSL_PARAM_BLD_new(),
                                                                          &OSSL_PARAM_BLD_free);
  if (builder == nullptr ||
      OSSL_PARAM_BLD_push_BN(builder.get(), OSSL_PKEY_PARAM_RSA_N, n.get()) != 1 ||
      OSSL_PARAM_BLD_push_BN(builder.get(), OSSL_PKEY_PARAM_RSA_E, e.get()) != 1) {
    return absl::InternalError("OSSL_PARAM_BLD failed");
  }
  std::unique_ptr<OSSL_PARAM, decltype(&OSSL_PARAM_free)> params(
      OSSL_PARAM_BLD_to_param(builder.get()), &OSSL_PARAM_free);
  std::unique_ptr<EVP_PKEY_CTX, decltype(&EVP_PKEY_CTX_free)> ctx(
      EVP_PKEY_CTX_new_from_name(nullptr, "RSA", nullptr), &EVP_PKEY_CTX_free);
  EVP_PKEY* raw = nullptr;
  bool ok = params != nullptr && ctx != nullptr && EVP_PKEY_fromdata_init(ctx.get()) == 1 &&
            EVP_PKEY_fromdata(ctx.get(), &raw, EVP_PKEY_PUBLIC_KEY, params.get()) == 1;
  ERR_clear_error();
  if (!ok || raw == nullptr) return absl::InvalidArgumentError("not a valid RSA public key");
  std::shared_ptr<EVP_PKEY> key = Own(raw);
  absl::Status usable = CheckRsaKey(key.get());
  if (!usable.ok()) return usable;
  return key;
}

// Whether the optional JWK member `name` is absent or satisfies `pred`.
template <typename Pred>
bool AbsentOr(const json& jwk, const char* name, Pred pred) {
  auto it = jwk.find(name);
  return it == jwk.end() || pred(*it);
}

absl::StatusOr<std::shared_ptr<EVP_PKEY>> KeyFromJwk(const json& jwk) {
  if (!jwk.is_object()) return absl::InvalidArgumentError("not an object");
  auto kty = jwk.find("kty");
  if (kty == jwk.end() || !kty->is_string() || *kty != "RSA") {
    return absl::InvalidArgumentError("kty is not RSA");
  }
  if (!AbsentOr(jwk, "use", [](const json& v) { return v.is_string() && v == "sig"; })) {
    return absl::InvalidArgumentError("use is not sig");
  }
  if (!AbsentOr(jwk, "alg", [](const json& v) { return v.is_string() && v == "RS256"; })) {
    return absl::InvalidArgumentError("alg is not RS256");
  }
  if (!AbsentOr(jwk, "key_ops", [](const json& v) {
        if (!v.is_array()) return false;
        for (const json& op : v) {
          if (op.is_string() && op == "verify") return true;
        }
        return false;
      })) {
    return absl::InvalidArgumentError("key_ops lacks verify");
  }
  auto n = jwk.find("n");
  auto e = jwk.find("e");
  if (n == jwk.end() || e == jwk.end() || !n->is_string() || !e->is_string()) {
    return absl::InvalidArgumentError("n or e missing");
  }
  absl::StatusOr<std::string> n_bytes =
      Base64UrlDecodeStrict(n->get_ref<const std::string&>(), /*allow_padding=*/true);
  absl::StatusOr<std::string> e_bytes =
      Base64UrlDecodeStrict(e->get_ref<const std::string&>(), /*allow_padding=*/true);
  if (!n_bytes.ok() || !e_bytes.ok() || n_bytes->empty() || e_bytes->empty()) {
    return absl::InvalidArgumentError("n or e is not base64url");
  }
  return RsaPublicKeyFromComponents(*n_bytes, *e_bytes);
}

// A libcurl client for JWKS fetches. Nothing is kept open between them: they come about an
// hour apart (max_key_age), rotations aside, so a kept connection would only sit idle.
absl::StatusOr<std::unique_ptr<http::CurlHttpClient>> JwksHttpClient(absl::Duration timeout) {
  http::CurlHttpClientOptions options;
  options.connect_timeout = timeout;
  options.max_response_bytes = kMaxJwksBytes;
  options.max_idle_connections = 0;
  return http::CurlHttpClient::Create(std::move(options));
}

// HttpGet over a client of its own. Shared, since std::function must be copyable; a client that
// could not be made (libcurl failed to initialise) fails every fetch with the reason.
FetchFunction DefaultFetch(absl::Duration timeout) {
  absl::StatusOr<std::shared_ptr<http::HttpClient>> client = JwksHttpClient(timeout);
  return [client = std::move(client),
          timeout](const std::string& url) -> absl::StatusOr<std::string> {
    if (!client.ok()) return absl::UnavailableError(client.status().message());
    return HttpGet(**client, url, timeout);
  };
}

}  // namespace

absl::Status ValidateJwtOptions(const JwtOptions& options) {
  if (options.issuer.empty()) {
    return absl::InvalidArgumentError("JWT verification needs an issuer (--jwt_issuer)");
  }
  if (options.audience.empty()) {
    return absl::InvalidArgumentError("JWT verification needs an audience (--jwt_audience)");
  }
  if (options.leeway < absl::ZeroDuration()) {
    return absl::InvalidArgumentError("JWT leeway must not be negative");
  }
  return absl::OkStatus();
}

absl::StatusOr<std::shared_ptr<EVP_PKEY>> RsaPublicKeyFromPem(absl::string_view pem) {
  auto read = [&](auto reader) -> EVP_PKEY* {
    std::unique_ptr<BIO, decltype(&BIO_free)> bio(
        BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())), &BIO_free);
    return bio == nullptr ? nullptr : reader(bio.get());
  };
  EVP_PKEY* raw =
      read([](BIO* bio) { return PEM_read_bio_PUBKEY(bio, nullptr, nullptr, nullptr); });
  if (raw == nullptr) {
    raw = read([](BIO* bio) -> EVP_PKEY* {
      X509* cert = PEM_read_bio_X509(bio, nullptr, nullptr, nullptr);
      if (cert == nullptr) return nullptr;
      EVP_PKEY* key = X509_get_pubkey(cert);  // a new reference
      X509_free(cert);
      return key;
    });
  }
  ERR_clear_error();
  if (raw == nullptr) {
    return absl::InvalidArgumentError(
        "no public key found: expected PEM \"BEGIN PUBLIC KEY\" or \"BEGIN CERTIFICATE\"");
  }
  std::shared_ptr<EVP_PKEY> key = Own(raw);
  absl::Status usable = CheckRsaKey(key.get());
  if (!usable.ok()) return usable;
  return key;
}

absl::StatusOr<std::shared_ptr<PemKeySource>> PemKeySource::FromFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return absl::InvalidArgumentError(absl::StrCat("cannot read JWT key file ", path));
  std::ostringstream text;
  text << in.rdbuf();
  absl::StatusOr<std::shared_ptr<EVP_PKEY>> key = RsaPublicKeyFromPem(text.str());
  if (!key.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat("JWT key file ", path, ": ", key.status().message()));
  }
  return std::make_shared<PemKeySource>(*std::move(key));
}

absl::StatusOr<std::shared_ptr<EVP_PKEY>> PemKeySource::KeyFor(absl::string_view /*kid*/) {
  return key_;
}

absl::StatusOr<std::vector<Jwk>> ParseJwks(absl::string_view document) {
  json parsed = json::parse(document, /*cb=*/nullptr, /*allow_exceptions=*/false);
  if (parsed.is_discarded() || !parsed.is_object()) {
    return absl::InvalidArgumentError("JWKS is not a JSON object");
  }
  auto keys = parsed.find("keys");
  if (keys == parsed.end() || !keys->is_array()) {
    return absl::InvalidArgumentError("JWKS has no \"keys\" array");
  }
  std::vector<Jwk> out;
  for (const json& entry : *keys) {
    absl::StatusOr<std::shared_ptr<EVP_PKEY>> key = KeyFromJwk(entry);
    if (!key.ok()) continue;  // not an RS256 signing key: encryption and EC keys are normal here
    std::string kid;
    auto k = entry.find("kid");
    if (k != entry.end() && k->is_string()) kid = k->get<std::string>();
    out.push_back(Jwk{std::move(kid), *std::move(key)});
  }
  if (out.empty()) return absl::InvalidArgumentError("JWKS holds no usable RS256 signing key");
  return out;
}

absl::StatusOr<std::string> HttpGet(http::HttpClient& client, const std::string& url,
                                    absl::Duration timeout) {
  http::HttpRequest request;
  request.method = "GET";
  request.url = url;
  request.timeout = timeout;
  absl::StatusOr<http::HttpResponse> response = client.Send(request);
  // The client's messages already name the method and URL.
  if (!response.ok()) return absl::UnavailableError(response.status().message());
  if (response->status != 200) {
    return absl::UnavailableError(absl::StrCat("GET ", url, ": HTTP status ", response->status));
  }
  return std::move(response->body);
}

absl::StatusOr<std::string> HttpGet(const std::string& url, absl::Duration timeout) {
  absl::StatusOr<std::unique_ptr<http::CurlHttpClient>> client = JwksHttpClient(timeout);
  if (!client.ok()) return absl::UnavailableError(client.status().message());
  return HttpGet(**client, url, timeout);
}

JwksKeySource::JwksKeySource(JwksOptions options, const Clock& clock, FetchFunction fetch)
    : options_(std::move(options)),
      clock_(clock),
      fetch_(fetch != nullptr ? std::move(fetch) : DefaultFetch(options_.fetch_timeout)) {}

absl::Time JwksKeySource::TrustedUntil() const {
  return last_success_ + options_.max_key_age + options_.max_stale;
}

std::shared_ptr<EVP_PKEY> JwksKeySource::Find(absl::string_view kid, absl::Time now) const {
  if (now >= TrustedUntil()) return nullptr;
  for (const Jwk& jwk : keys_) {
    if (jwk.kid == kid) return jwk.key;
  }
  // A token without a kid can only mean the key when there is just one.
  if (kid.empty() && keys_.size() == 1) return keys_.front().key;
  return nullptr;
}

bool JwksKeySource::MayFetch(absl::Time now) const {
  return last_attempt_ == absl::InfinitePast() ||
         now - last_attempt_ >= options_.min_refetch_interval;
}

absl::Status JwksKeySource::FetchAndInstall() {
  {
    absl::MutexLock lock(&mu_);
    last_attempt_ = clock_.Now();
    fetching_ = true;
  }
  absl::StatusOr<std::vector<Jwk>> keys;
  absl::StatusOr<std::string> body = fetch_(options_.url);
  if (body.ok()) {
    keys = ParseJwks(*body);
  } else {
    keys = body.status();
  }
  absl::MutexLock lock(&mu_);
  fetching_ = false;
  if (!keys.ok()) {
    last_error_ =
        absl::UnavailableError(absl::StrCat("JWKS ", options_.url, ": ", keys.status().message()));
    Log(LogLevel::kWarning, "JWKS fetch failed; keeping the cached keys",
        {{"url", options_.url},
         {"error", std::string(keys.status().message())},
         {"cached_keys", keys_.size()},
         {"cached_keys_trusted_until",
          keys_.empty() ? std::string("-")
                        : absl::FormatTime(absl::RFC3339_sec, TrustedUntil(),
                                           absl::UTCTimeZone())}});
    return last_error_;
  }
  std::vector<std::string> kids;
  for (const Jwk& jwk : *keys) kids.push_back(jwk.kid);
  Log(LogLevel::kInfo, "JWKS signing keys loaded",
      {{"url", options_.url}, {"kids", absl::StrJoin(kids, ",")}});
  keys_ = *std::move(keys);
  last_success_ = clock_.Now();
  last_error_ = absl::OkStatus();
  return absl::OkStatus();
}

absl::Status JwksKeySource::UnknownKid(absl::Time now) const {
  if (!keys_.empty() && now >= TrustedUntil()) {
    // Callers see this one as it is (JwtVerifier passes kReasonAuthKeysUnavailable through): it
    // names no URL or transport detail, only when the keys were last fetched.
    return ReasonedError(
        absl::StatusCode::kUnavailable,
        absl::StrCat("the token signing keys could not be refreshed from the identity provider "
                     "since ",
                     absl::FormatTime(absl::RFC3339_sec, last_success_, absl::UTCTimeZone()),
                     " and are no longer trusted; retry once it is reachable again"),
        kReasonAuthKeysUnavailable);
  }
  if (!last_error_.ok()) return last_error_;
  return absl::NotFoundError("no signing key with this kid");
}

absl::Status JwksKeySource::Refresh() {
  absl::MutexLock fetch_lock(&fetch_mu_);
  return FetchAndInstall();
}

absl::StatusOr<std::shared_ptr<EVP_PKEY>> JwksKeySource::KeyFor(absl::string_view kid) {
  std::shared_ptr<EVP_PKEY> cached;
  {
    absl::ReaderMutexLock lock(&mu_);
    const absl::Time now = clock_.Now();
    cached = Find(kid, now);
    bool stale = now - last_success_ >= options_.max_key_age;
    if (cached != nullptr && (!stale || !MayFetch(now))) return cached;
    // An unknown kid (or a set past its trust) waits for a fetch in flight (it may bring the key)
    // but starts none inside the floor.
    if (cached == nullptr && !MayFetch(now) && !fetching_) return UnknownKid(now);
  }

  if (cached != nullptr) {
    // A stale cache that is still trusted: one caller refreshes while the others keep using the
    // cached key.
    if (!fetch_mu_.TryLock()) return cached;
    {
      absl::ReaderMutexLock lock(&mu_);
      const absl::Time now = clock_.Now();
      if (!MayFetch(now)) {  // someone refreshed meanwhile
        fetch_mu_.Unlock();
        std::shared_ptr<EVP_PKEY> key = Find(kid, now);
        if (key != nullptr) return key;
        return UnknownKid(now);
      }
    }
    (void)FetchAndInstall();
    fetch_mu_.Unlock();
    absl::ReaderMutexLock lock(&mu_);
    const absl::Time now = clock_.Now();
    // After a failed refresh the last known keys stay trusted until TrustedUntil().
    std::shared_ptr<EVP_PKEY> key = Find(kid, now);
    if (key != nullptr) return key;
    return UnknownKid(now);  // the IdP withdrew this key, or the cache is past its trust
  }

  // Unknown kid: wait for any fetch in progress, then fetch unless that one was recent.
  absl::MutexLock fetch_lock(&fetch_mu_);
  {
    absl::ReaderMutexLock lock(&mu_);
    const absl::Time now = clock_.Now();
    std::shared_ptr<EVP_PKEY> key = Find(kid, now);
    if (key != nullptr) return key;
    if (!MayFetch(now)) return UnknownKid(now);
  }
  (void)FetchAndInstall();
  absl::ReaderMutexLock lock(&mu_);
  const absl::Time now = clock_.Now();
  std::shared_ptr<EVP_PKEY> key = Find(kid, now);
  if (key != nullptr) return key;
  return UnknownKid(now);
}

JwtVerifier::JwtVerifier(std::shared_ptr<KeySource> keys, JwtOptions options, const Clock& clock)
    : keys_(std::move(keys)),
      options_(std::move(options)),
      options_status_(ValidateJwtOptions(options_)),
      clock_(clock) {}

absl::StatusOr<VerifiedToken> JwtVerifier::Verify(absl::string_view bearer_token) const {
  if (!options_status_.ok() || keys_ == nullptr) {
    return Unauthenticated("cannot be verified: the server's JWT settings are incomplete");
  }
  if (bearer_token.size() > kMaxTokenBytes) return Unauthenticated("is too long");
  std::vector<absl::string_view> parts = absl::StrSplit(bearer_token, '.');
  if (parts.size() != 3 || parts[0].empty() || parts[1].empty()) {
    return Unauthenticated("is malformed: not a compact JWS");
  }

  // Header: the algorithm is pinned, never taken from the token (RFC 8725 §2.1, §3.1).
  std::optional<json> header = DecodeJsonObject(parts[0]);
  if (!header.has_value()) return Unauthenticated("is malformed: bad header");
  auto alg = header->find("alg");
  if (alg == header->end() || !alg->is_string() || *alg != "RS256") {
    return Unauthenticated("uses an unsupported algorithm: only RS256 is accepted");
  }
  if (header->contains("crit")) {
    return Unauthenticated("has critical header extensions this server does not understand");
  }
  std::string kid;
  if (auto k = header->find("kid"); k != header->end()) {
    if (!k->is_string()) return Unauthenticated("is malformed: kid is not a string");
    kid = k->get<std::string>();
  }

  absl::StatusOr<std::string> signature = Base64UrlDecodeStrict(parts[2]);
  if (!signature.ok() || signature->empty()) return Unauthenticated("is malformed: bad signature");
  absl::StatusOr<std::shared_ptr<EVP_PKEY>> key = keys_->KeyFor(kid);
  if (!key.ok()) {
    if (key.status().code() == absl::StatusCode::kNotFound) {
      return Unauthenticated("is signed with an unknown key (kid)");
    }
    // A key source's own kReasonAuthKeysUnavailable status is written for callers; anything
    // else (a fetch error naming the URL) stays in the server's log.
    if (ReasonOf(key.status()) == kReasonAuthKeysUnavailable) return key.status();
    return ReasonedError(absl::StatusCode::kUnavailable,
                         "the token signing keys are temporarily unavailable; retry later",
                         kReasonAuthKeysUnavailable);
  }
  absl::string_view signing_input(parts[0].data(), parts[0].size() + 1 + parts[1].size());
  if (!VerifyRs256(key->get(), signing_input, *signature)) {
    return Unauthenticated("has an invalid signature");
  }

  // Claims: only now is the payload trusted enough to read.
  std::optional<json> claims = DecodeJsonObject(parts[1]);
  if (!claims.has_value()) return Unauthenticated("is malformed: bad payload");
  auto iss = claims->find("iss");
  if (iss == claims->end() || !iss->is_string() || *iss != options_.issuer) {
    return Unauthenticated("was not issued by the expected issuer");
  }
  bool audience_ok = false;
  if (auto aud = claims->find("aud"); aud != claims->end()) {
    if (aud->is_string()) {
      audience_ok = *aud == options_.audience;
    } else if (aud->is_array()) {
      for (const json& a : *aud) {
        if (a.is_string() && a == options_.audience) audience_ok = true;
      }
    }
  }
  if (!audience_ok) return Unauthenticated("is not meant for this service (aud)");

  const absl::Time now = clock_.Now();
  auto exp_claim = claims->find("exp");
  if (exp_claim == claims->end()) return Unauthenticated("has no expiry (exp)");
  std::optional<absl::Time> exp = NumericDate(*exp_claim);
  if (!exp.has_value()) return Unauthenticated("is malformed: exp is not a NumericDate");
  if (now >= *exp + options_.leeway) {
    return Unauthenticated("has expired", kReasonAuthTokenExpired);
  }
  if (auto nbf_claim = claims->find("nbf"); nbf_claim != claims->end()) {
    std::optional<absl::Time> nbf = NumericDate(*nbf_claim);
    if (!nbf.has_value()) return Unauthenticated("is malformed: nbf is not a NumericDate");
    if (now < *nbf - options_.leeway) {
      return Unauthenticated("is not valid yet (nbf)", kReasonAuthTokenNotYetValid);
    }
  }
  // Keycloak marks its tokens: "Bearer" (access), "ID", "Refresh", ... Only access tokens grant
  // access, even when an ID token happens to carry the same audience.
  if (auto typ = claims->find("typ"); typ != claims->end()) {
    if (!typ->is_string() ||
        !absl::EqualsIgnoreCase(typ->get_ref<const std::string&>(), "Bearer")) {
      return Unauthenticated("is not an access token (typ)");
    }
  }

  VerifiedToken token;
  if (auto sub = claims->find("sub"); sub != claims->end() && sub->is_string()) {
    token.subject = sub->get<std::string>();
  }
  if (token.subject.empty()) return Unauthenticated("has no subject (sub)");
  if (auto name = claims->find("preferred_username"); name != claims->end() && name->is_string()) {
    token.preferred_username = name->get<std::string>();
  }
  if (auto realm = claims->find("realm_access"); realm != claims->end() && realm->is_object()) {
    if (auto roles = realm->find("roles"); roles != realm->end() && roles->is_array()) {
      for (const json& role : *roles) {
        if (role.is_string()) token.realm_roles.push_back(role.get<std::string>());
      }
    }
  }
  if (auto tenant = claims->find("tenant_id"); tenant != claims->end()) {
    token.tenant_id = SingleString(*tenant);
  }
  token.expires = *exp;
  token.accepted_until = *exp + options_.leeway;
  return token;
}

absl::StatusOr<absl::string_view> BearerToken(absl::string_view authorization_header) {
  absl::string_view value = absl::StripAsciiWhitespace(authorization_header);
  constexpr absl::string_view kScheme = "bearer";
  if (value.size() <= kScheme.size() ||
      !absl::EqualsIgnoreCase(value.substr(0, kScheme.size()), kScheme) ||
      value[kScheme.size()] != ' ') {
    return ReasonedError(absl::StatusCode::kUnauthenticated,
                         "this call needs an 'authorization: Bearer <token>' header",
                         kReasonAuthTokenMissing);
  }
  absl::string_view token = absl::StripLeadingAsciiWhitespace(value.substr(kScheme.size()));
  if (token.empty() || absl::StrContains(token, ' ')) {
    return ReasonedError(absl::StatusCode::kUnauthenticated,
                         "the authorization header must be 'Bearer <token>'",
                         kReasonAuthTokenMissing);
  }
  return token;
}

}  // namespace securelink::invitations
