#include "tests/auth/jwt_test_keys.h"

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/hmac.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>
#include <openssl/x509.h>

#include <cstdlib>
#include <stdexcept>

#include "server/domain/token.h"

namespace securelink::testing {
namespace {

// Test helpers fail loudly: a broken key fixture would make every later assertion meaningless.
void Check(bool ok, const char* what) {
  if (!ok) throw std::runtime_error(std::string("OpenSSL test helper failed: ") + what);
}

std::string BioContents(BIO* bio) {
  char* data = nullptr;
  long len = BIO_get_mem_data(bio, &data);
  return std::string(data, static_cast<size_t>(len));
}

using BioPtr = std::unique_ptr<BIO, decltype(&BIO_free)>;

std::string BigNumParam(EVP_PKEY* key, const char* name) {
  BIGNUM* bn = nullptr;
  Check(EVP_PKEY_get_bn_param(key, name, &bn) == 1, name);
  std::string out(static_cast<size_t>(BN_num_bytes(bn)), '\0');
  BN_bn2bin(bn, reinterpret_cast<unsigned char*>(out.data()));
  BN_free(bn);
  return out;
}

}  // namespace

std::shared_ptr<EVP_PKEY> GenerateRsaKey(int bits) {
  EVP_PKEY* key = EVP_RSA_gen(static_cast<unsigned int>(bits));
  Check(key != nullptr, "EVP_RSA_gen");
  return std::shared_ptr<EVP_PKEY>(key, EVP_PKEY_free);
}

std::shared_ptr<EVP_PKEY> GenerateEcKey() {
  EVP_PKEY* key = EVP_EC_gen("P-256");
  Check(key != nullptr, "EVP_EC_gen");
  return std::shared_ptr<EVP_PKEY>(key, EVP_PKEY_free);
}

std::string PublicKeyPem(EVP_PKEY* key) {
  BioPtr bio(BIO_new(BIO_s_mem()), BIO_free);
  Check(PEM_write_bio_PUBKEY(bio.get(), key) == 1, "PEM_write_bio_PUBKEY");
  return BioContents(bio.get());
}

std::string PublicKeyDer(EVP_PKEY* key) {
  unsigned char* der = nullptr;
  int len = i2d_PUBKEY(key, &der);
  Check(len > 0, "i2d_PUBKEY");
  std::string out(reinterpret_cast<char*>(der), static_cast<size_t>(len));
  OPENSSL_free(der);
  return out;
}

std::string SelfSignedCertificatePem(EVP_PKEY* key) {
  std::unique_ptr<X509, decltype(&X509_free)> cert(X509_new(), X509_free);
  Check(cert != nullptr, "X509_new");
  X509_set_version(cert.get(), 2);
  ASN1_INTEGER_set(X509_get_serialNumber(cert.get()), 1);
  X509_gmtime_adj(X509_getm_notBefore(cert.get()), 0);
  X509_gmtime_adj(X509_getm_notAfter(cert.get()), 3600);
  X509_set_pubkey(cert.get(), key);
  X509_NAME* name = X509_get_subject_name(cert.get());
  X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
                             reinterpret_cast<const unsigned char*>("idp.test"), -1, -1, 0);
  X509_set_issuer_name(cert.get(), name);
  Check(X509_sign(cert.get(), key, EVP_sha256()) > 0, "X509_sign");
  BioPtr bio(BIO_new(BIO_s_mem()), BIO_free);
  Check(PEM_write_bio_X509(bio.get(), cert.get()) == 1, "PEM_write_bio_X509");
  return BioContents(bio.get());
}

Json PublicJwk(EVP_PKEY* key, absl::string_view kid) {
  return Json{{"kty", "RSA"},
              {"kid", std::string(kid)},
              {"use", "sig"},
              {"alg", "RS256"},
              {"n", B64(BigNumParam(key, OSSL_PKEY_PARAM_RSA_N))},
              {"e", B64(BigNumParam(key, OSSL_PKEY_PARAM_RSA_E))}};
}

std::string B64(absl::string_view data) { return invitations::Base64UrlEncode(data); }

std::string B64Json(const Json& value) { return B64(value.dump()); }

std::string RawRs256Signature(absl::string_view signing_input, EVP_PKEY* key) {
  std::unique_ptr<EVP_MD_CTX, decltype(&EVP_MD_CTX_free)> md(EVP_MD_CTX_new(), EVP_MD_CTX_free);
  EVP_PKEY_CTX* pctx = nullptr;
  Check(EVP_DigestSignInit(md.get(), &pctx, EVP_sha256(), nullptr, key) == 1, "EVP_DigestSignInit");
  Check(EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PADDING) == 1, "set_rsa_padding");
  size_t len = 0;
  const auto* in = reinterpret_cast<const unsigned char*>(signing_input.data());
  Check(EVP_DigestSign(md.get(), nullptr, &len, in, signing_input.size()) == 1, "EVP_DigestSign");
  std::string sig(len, '\0');
  Check(EVP_DigestSign(md.get(), reinterpret_cast<unsigned char*>(sig.data()), &len, in,
                       signing_input.size()) == 1,
        "EVP_DigestSign");
  sig.resize(len);
  return sig;
}

std::string SignRs256(const Json& header, const Json& payload, EVP_PKEY* key) {
  std::string input = B64Json(header) + "." + B64Json(payload);
  return input + "." + B64(RawRs256Signature(input, key));
}

std::string SignHs256(const Json& header, const Json& payload, absl::string_view secret) {
  std::string input = B64Json(header) + "." + B64Json(payload);
  unsigned char mac[EVP_MAX_MD_SIZE];
  unsigned int mac_len = 0;
  Check(HMAC(EVP_sha256(), secret.data(), static_cast<int>(secret.size()),
             reinterpret_cast<const unsigned char*>(input.data()), input.size(), mac,
             &mac_len) != nullptr,
        "HMAC");
  return input + "." + B64(std::string(reinterpret_cast<char*>(mac), mac_len));
}

Json KeycloakClaims(absl::Time now) {
  int64_t t = absl::ToUnixSeconds(now);
  return Json{{"iss", kIssuer},
              {"aud", kAudience},
              {"sub", "0b8e6f4c-2f0e-4a8e-9d56-1d5b2c3f4a5e"},
              {"typ", "Bearer"},
              {"azp", "securelink-ui"},
              {"iat", t},
              {"exp", t + 300},
              {"preferred_username", "alice"},
              {"realm_access", {{"roles", {"offline_access", "securelink-super-admin"}}}},
              {"tenant_id", "acme"}};
}

}  // namespace securelink::testing
