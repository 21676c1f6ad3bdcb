// Where verification keys come from: a PEM file (SPKI or certificate), a JWKS document, and a
// JWKS URL whose keys are cached and refetched on rotation without letting bogus kids hammer the
// identity provider. One test fetches over real HTTP from a local python3 http.server.
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "server/auth/jwt_verifier.h"
#include "server/domain/clock.h"
#include "server/domain/errors.h"
#include "tests/auth/jwt_test_keys.h"
#include "tests/support/status_matchers.h"

namespace securelink::invitations {
namespace {

using ::securelink::testing::IsOk;
using ::securelink::testing::Json;
using ::securelink::testing::StatusIs;
using ::testing::HasSubstr;

// A temporary directory removed at scope exit.
class TempDir {
 public:
  TempDir() {
    const char* tmp = std::getenv("TMPDIR");
    std::string pattern =
        absl::StrCat(tmp != nullptr && *tmp != '\0' ? tmp : "/tmp", "/auth-test-XXXXXX");
    if (mkdtemp(pattern.data()) != nullptr) path_ = pattern;
  }
  ~TempDir() {
    std::error_code ignored;
    if (!path_.empty()) std::filesystem::remove_all(path_, ignored);
  }
  const std::string& path() const { return path_; }
  std::string Write(const std::string& name, const std::string& contents) const {
    std::string file = absl::StrCat(path_, "/", name);
    std::ofstream(file, std::ios::binary | std::ios::trunc) << contents;
    return file;
  }

 private:
  std::string path_;
};

// `/usr/bin/python3 -m http.server` serving a directory on 127.0.0.1. It binds port 0 and
// reports the port the kernel chose, so two test runs never race for one.
class LocalHttpServer {
 public:
  static std::unique_ptr<LocalHttpServer> Start(const std::string& dir) {
    int fds[2];
    if (pipe2(fds, O_CLOEXEC) != 0) return nullptr;
    const pid_t parent = getpid();
    pid_t pid = fork();
    if (pid < 0) return nullptr;
    if (pid == 0) {
      prctl(PR_SET_PDEATHSIG, SIGKILL);
      if (getppid() != parent) _exit(1);
      dup2(fds[1], STDOUT_FILENO);
      int devnull = open("/dev/null", O_WRONLY);
      if (devnull >= 0) dup2(devnull, STDERR_FILENO);  // request log lines
      execl("/usr/bin/python3", "python3", "-u", "-m", "http.server", "0", "--bind", "127.0.0.1",
            "--directory", dir.c_str(), static_cast<char*>(nullptr));
      _exit(127);
    }
    close(fds[1]);
    std::unique_ptr<LocalHttpServer> server(new LocalHttpServer(pid, fds[0]));
    // "Serving HTTP on 127.0.0.1 port 41234 (http://127.0.0.1:41234/) ..."
    std::string out;
    absl::Time deadline = absl::Now() + absl::Seconds(20);
    while (out.find(") ...") == std::string::npos && absl::Now() < deadline) {
      pollfd pfd{fds[0], POLLIN, 0};
      int r = poll(&pfd, 1, 100);
      if (r < 0 && errno == EINTR) continue;
      if (r <= 0) continue;
      char buf[256];
      ssize_t n = read(fds[0], buf, sizeof(buf));
      if (n <= 0) break;
      out.append(buf, static_cast<size_t>(n));
    }
    size_t at = out.find(" port ");
    if (at == std::string::npos) return nullptr;
    size_t end = out.find(' ', at + 6);
    if (!absl::SimpleAtoi(out.substr(at + 6, end - at - 6), &server->port_)) return nullptr;
    // Poll until it answers (it does once listening; the poll guards slow machines).
    while (absl::Now() < deadline) {
      if (HttpGet(absl::StrCat(server->base_url(), "/"), absl::Seconds(2)).ok()) return server;
      absl::SleepFor(absl::Milliseconds(50));
    }
    return nullptr;
  }

  ~LocalHttpServer() {
    kill(pid_, SIGTERM);
    for (int i = 0; i < 500; ++i) {
      if (waitpid(pid_, nullptr, WNOHANG) != 0) break;
      absl::SleepFor(absl::Milliseconds(10));
      if (i == 300) kill(pid_, SIGKILL);
    }
    close(stdout_fd_);
  }

  std::string base_url() const { return absl::StrCat("http://127.0.0.1:", port_); }

 private:
  LocalHttpServer(pid_t pid, int stdout_fd) : pid_(pid), stdout_fd_(stdout_fd) {}
  pid_t pid_;
  int stdout_fd_;
  int port_ = 0;
};

// A JWKS "endpoint" whose document the test changes, counting fetches.
class FakeJwksEndpoint {
 public:
  void Serve(Json document) {
    absl::MutexLock lock(&mu_);
    body_ = document.dump();
    failure_ = absl::OkStatus();
  }
  void Fail(absl::Status failure) {
    absl::MutexLock lock(&mu_);
    failure_ = std::move(failure);
  }
  void SetDelay(absl::Duration delay) {
    absl::MutexLock lock(&mu_);
    delay_ = delay;
  }
  int fetches() const { return fetches_.load(); }

  FetchFunction AsFetch() {
    return [this](const std::string& url) -> absl::StatusOr<std::string> {
      ++fetches_;
      absl::Duration delay;
      {
        absl::MutexLock lock(&mu_);
        delay = delay_;
      }
      absl::SleepFor(delay);
      absl::MutexLock lock(&mu_);
      if (url != "https://idp.test/certs") return absl::NotFoundError("wrong url");
      if (!failure_.ok()) return failure_;
      return body_;
    };
  }

 private:
  std::atomic<int> fetches_{0};
  absl::Mutex mu_;
  std::string body_ ABSL_GUARDED_BY(mu_) = "{\"keys\":[]}";
  absl::Status failure_ ABSL_GUARDED_BY(mu_);
  absl::Duration delay_ ABSL_GUARDED_BY(mu_) = absl::ZeroDuration();
};

class KeySourcesTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    key1_ = new std::shared_ptr<EVP_PKEY>(testing::GenerateRsaKey());
    key2_ = new std::shared_ptr<EVP_PKEY>(testing::GenerateRsaKey());
  }
  static void TearDownTestSuite() {
    delete key1_;
    delete key2_;
  }
  static EVP_PKEY* key1() { return key1_->get(); }
  static EVP_PKEY* key2() { return key2_->get(); }

  static Json Jwks(std::vector<Json> keys) { return Json{{"keys", std::move(keys)}}; }

  std::string Token(EVP_PKEY* key, const std::string& kid) const {
    Json header = {{"alg", "RS256"}, {"typ", "JWT"}};
    if (!kid.empty()) header["kid"] = kid;
    return testing::SignRs256(header, testing::KeycloakClaims(clock_.Now()), key);
  }
  absl::Status VerifyWith(std::shared_ptr<KeySource> source, const std::string& token) const {
    JwtVerifier verifier(std::move(source), JwtOptions{testing::kIssuer, testing::kAudience},
                         clock_);
    return verifier.Verify(token).status();
  }
  std::shared_ptr<JwksKeySource> Source(FakeJwksEndpoint& endpoint) {
    return std::make_shared<JwksKeySource>(JwksOptions{"https://idp.test/certs"}, clock_,
                                           endpoint.AsFetch());
  }

  static std::shared_ptr<EVP_PKEY>* key1_;
  static std::shared_ptr<EVP_PKEY>* key2_;
  ManualClock clock_{absl::FromUnixSeconds(1'700'000'000)};
};

std::shared_ptr<EVP_PKEY>* KeySourcesTest::key1_ = nullptr;
std::shared_ptr<EVP_PKEY>* KeySourcesTest::key2_ = nullptr;

// --- PEM files ---

TEST_F(KeySourcesTest, PemFileWithSubjectPublicKeyInfoVerifiesTokensOfAnyKid) {
  TempDir dir;
  std::string path = dir.Write("jwt.pem", testing::PublicKeyPem(key1()));
  absl::StatusOr<std::shared_ptr<PemKeySource>> source = PemKeySource::FromFile(path);
  ASSERT_THAT(source, IsOk());
  EXPECT_THAT(VerifyWith(*source, Token(key1(), "whatever")), IsOk());
  EXPECT_THAT(VerifyWith(*source, Token(key1(), "")), IsOk());
  EXPECT_THAT(VerifyWith(*source, Token(key2(), "whatever")),
              StatusIs(absl::StatusCode::kUnauthenticated));
}

TEST_F(KeySourcesTest, PemFileWithCertificateVerifiesTokens) {
  TempDir dir;
  std::string path = dir.Write("cert.pem", testing::SelfSignedCertificatePem(key1()));
  absl::StatusOr<std::shared_ptr<PemKeySource>> source = PemKeySource::FromFile(path);
  ASSERT_THAT(source, IsOk());
  EXPECT_THAT(VerifyWith(*source, Token(key1(), "k")), IsOk());
}

TEST_F(KeySourcesTest, UnusablePemFilesAreRefusedNamingThePath) {
  TempDir dir;
  std::vector<std::string> bad = {
      dir.Write("garbage.pem", "not a key"),
      dir.Write("ec.pem", testing::PublicKeyPem(testing::GenerateEcKey().get())),
      dir.Write("short.pem", testing::PublicKeyPem(testing::GenerateRsaKey(1024).get())),
      absl::StrCat(dir.path(), "/missing.pem"),
  };
  for (const std::string& path : bad) {
    SCOPED_TRACE(path);
    absl::StatusOr<std::shared_ptr<PemKeySource>> source = PemKeySource::FromFile(path);
    EXPECT_THAT(source, StatusIs(absl::StatusCode::kInvalidArgument));
    EXPECT_THAT(std::string(source.status().message()), HasSubstr(path));
  }
}

// --- JWKS documents ---

TEST_F(KeySourcesTest, JwksKeysAreBuiltFromModulusAndExponent) {
  absl::StatusOr<std::vector<Jwk>> keys =
      ParseJwks(Jwks({testing::PublicJwk(key1(), "k1"), testing::PublicJwk(key2(), "k2")}).dump());
  ASSERT_THAT(keys, IsOk());
  ASSERT_EQ(keys->size(), 2u);
  EXPECT_EQ((*keys)[0].kid, "k1");
  EXPECT_EQ((*keys)[1].kid, "k2");
  EXPECT_EQ(EVP_PKEY_eq((*keys)[0].key.get(), key1()), 1);
  EXPECT_EQ(EVP_PKEY_eq((*keys)[1].key.get(), key2()), 1);
}

TEST_F(KeySourcesTest, JwksEntriesThatAreNotRs256SigningKeysAreSkipped) {
  Json enc = testing::PublicJwk(key2(), "enc");
  enc["use"] = "enc";
  enc["alg"] = "RSA-OAEP";  // Keycloak publishes its encryption key beside the signing key
  Json ec = {{"kty", "EC"}, {"kid", "ec"}, {"crv", "P-256"}, {"x", "AAAA"}, {"y", "AAAA"}};
  Json ps256 = testing::PublicJwk(key2(), "ps");
  ps256["alg"] = "PS256";
  Json sign_only = testing::PublicJwk(key2(), "ops");
  sign_only["key_ops"] = Json::array({"sign"});
  Json broken = testing::PublicJwk(key2(), "broken");
  broken["n"] = "***";
  Json even_exponent = testing::PublicJwk(key2(), "even");
  even_exponent["e"] = testing::B64(std::string("\x01\x00", 2));
  Json bare = testing::PublicJwk(key1(), "bare");  // no use/alg: allowed
  bare.erase("use");
  bare.erase("alg");
  absl::StatusOr<std::vector<Jwk>> keys =
      ParseJwks(Jwks({enc, ec, ps256, sign_only, broken, even_exponent, bare, "junk"}).dump());
  ASSERT_THAT(keys, IsOk());
  ASSERT_EQ(keys->size(), 1u);
  EXPECT_EQ((*keys)[0].kid, "bare");
}

TEST_F(KeySourcesTest, PaddedModulusIsTolerated) {
  Json jwk = testing::PublicJwk(key1(), "k1");
  std::string n = jwk["n"];
  while (n.size() % 4 != 0) n += "=";
  jwk["n"] = n;
  EXPECT_THAT(ParseJwks(Jwks({jwk}).dump()), IsOk());
}

TEST_F(KeySourcesTest, DocumentsWithoutUsableKeysAreRefused) {
  Json short_key = testing::PublicJwk(testing::GenerateRsaKey(1024).get(), "short");
  for (const std::string& doc :
       {std::string("not json"), std::string("[]"), std::string("{}"), std::string("{\"keys\":{}}"),
        std::string("{\"keys\":[]}"), Jwks({short_key}).dump()}) {
    SCOPED_TRACE(doc.substr(0, 60));
    EXPECT_THAT(ParseJwks(doc), StatusIs(absl::StatusCode::kInvalidArgument));
  }
}

// --- JWKS URL: caching, rotation, refetch floor ---

TEST_F(KeySourcesTest, FirstLookupFetchesAndLaterLookupsUseTheCache) {
  FakeJwksEndpoint endpoint;
  endpoint.Serve(Jwks({testing::PublicJwk(key1(), "k1")}));
  auto source = Source(endpoint);
  EXPECT_EQ(endpoint.fetches(), 0);  // lazy: constructing does not fetch
  EXPECT_THAT(VerifyWith(source, Token(key1(), "k1")), IsOk());
  EXPECT_THAT(VerifyWith(source, Token(key1(), "k1")), IsOk());
  clock_.Advance(absl::Minutes(59));
  EXPECT_THAT(VerifyWith(source, Token(key1(), "k1")), IsOk());
  EXPECT_EQ(endpoint.fetches(), 1);
}

TEST_F(KeySourcesTest, RotatedKeyIsPickedUpByOneRefetch) {
  FakeJwksEndpoint endpoint;
  endpoint.Serve(Jwks({testing::PublicJwk(key1(), "k1")}));
  auto source = Source(endpoint);
  ASSERT_THAT(VerifyWith(source, Token(key1(), "k1")), IsOk());
  clock_.Advance(absl::Minutes(5));
  endpoint.Serve(Jwks({testing::PublicJwk(key1(), "k1"), testing::PublicJwk(key2(), "k2")}));
  EXPECT_THAT(VerifyWith(source, Token(key2(), "k2")), IsOk());
  EXPECT_EQ(endpoint.fetches(), 2);
  EXPECT_THAT(VerifyWith(source, Token(key1(), "k1")), IsOk());
  EXPECT_EQ(endpoint.fetches(), 2);
}

TEST_F(KeySourcesTest, BogusKidsWithinTheIntervalDoNotRefetch) {
  FakeJwksEndpoint endpoint;
  endpoint.Serve(Jwks({testing::PublicJwk(key1(), "k1")}));
  auto source = Source(endpoint);
  ASSERT_THAT(VerifyWith(source, Token(key1(), "k1")), IsOk());
  clock_.Advance(absl::Minutes(5));
  // The first unknown kid refetches once...
  EXPECT_THAT(source->KeyFor("bogus-1"), StatusIs(absl::StatusCode::kNotFound));
  EXPECT_EQ(endpoint.fetches(), 2);
  // ...and a flood of others inside the interval costs the IdP nothing.
  for (int i = 2; i < 200; ++i) {
    EXPECT_THAT(source->KeyFor(absl::StrCat("bogus-", i)), StatusIs(absl::StatusCode::kNotFound));
  }
  clock_.Advance(absl::Seconds(29));
  EXPECT_THAT(VerifyWith(source, Token(key2(), "bogus-x")),
              StatusIs(absl::StatusCode::kUnauthenticated));
  EXPECT_EQ(endpoint.fetches(), 2);
  // Once the interval has passed, an unknown kid may refetch again.
  clock_.Advance(absl::Seconds(1));
  EXPECT_THAT(source->KeyFor("bogus-y"), StatusIs(absl::StatusCode::kNotFound));
  EXPECT_EQ(endpoint.fetches(), 3);
}

TEST_F(KeySourcesTest, KeyRotatedInJustAfterARefetchIsFoundOnceTheIntervalPasses) {
  FakeJwksEndpoint endpoint;
  endpoint.Serve(Jwks({testing::PublicJwk(key1(), "k1")}));
  auto source = Source(endpoint);
  ASSERT_THAT(source->KeyFor("k2"), StatusIs(absl::StatusCode::kNotFound));  // fetch 1
  endpoint.Serve(Jwks({testing::PublicJwk(key1(), "k1"), testing::PublicJwk(key2(), "k2")}));
  EXPECT_THAT(VerifyWith(source, Token(key2(), "k2")),
              StatusIs(absl::StatusCode::kUnauthenticated));
  clock_.Advance(absl::Seconds(30));
  EXPECT_THAT(VerifyWith(source, Token(key2(), "k2")), IsOk());
  EXPECT_EQ(endpoint.fetches(), 2);
}

TEST_F(KeySourcesTest, ConcurrentUnknownKidsShareOneFetch) {
  FakeJwksEndpoint endpoint;
  endpoint.Serve(Jwks({testing::PublicJwk(key1(), "k1")}));
  endpoint.SetDelay(absl::Milliseconds(200));
  auto source = Source(endpoint);
  std::vector<std::thread> threads;
  std::atomic<int> found{0};
  for (int i = 0; i < 16; ++i) {
    threads.emplace_back([&, i] {
      absl::StatusOr<std::shared_ptr<EVP_PKEY>> key =
          source->KeyFor(i % 2 == 0 ? "k1" : absl::StrCat("bogus-", i));
      if (key.ok()) ++found;
    });
  }
  for (std::thread& t : threads) t.join();
  EXPECT_EQ(endpoint.fetches(), 1);
  EXPECT_EQ(found.load(), 8);
}

TEST_F(KeySourcesTest, UnreachableJwksIsUnavailableAndNotRetriedWithinTheInterval) {
  FakeJwksEndpoint endpoint;
  endpoint.Fail(absl::UnavailableError("connection refused"));
  auto source = Source(endpoint);
  absl::Status status = VerifyWith(source, Token(key1(), "k1"));
  EXPECT_THAT(status, StatusIs(absl::StatusCode::kUnavailable));
  EXPECT_EQ(ReasonOf(status), kReasonAuthKeysUnavailable);
  EXPECT_THAT(source->KeyFor("k1"), StatusIs(absl::StatusCode::kUnavailable));
  EXPECT_EQ(endpoint.fetches(), 1);
  // The IdP comes back; the next attempt after the interval succeeds.
  endpoint.Serve(Jwks({testing::PublicJwk(key1(), "k1")}));
  clock_.Advance(absl::Seconds(30));
  EXPECT_THAT(VerifyWith(source, Token(key1(), "k1")), IsOk());
  EXPECT_EQ(endpoint.fetches(), 2);
}

TEST_F(KeySourcesTest, FailedRefetchKeepsTheCachedKeys) {
  FakeJwksEndpoint endpoint;
  endpoint.Serve(Jwks({testing::PublicJwk(key1(), "k1")}));
  auto source = Source(endpoint);
  ASSERT_THAT(VerifyWith(source, Token(key1(), "k1")), IsOk());
  endpoint.Fail(absl::UnavailableError("503"));
  clock_.Advance(absl::Minutes(5));
  EXPECT_THAT(source->KeyFor("k2"), StatusIs(absl::StatusCode::kUnavailable));
  EXPECT_THAT(VerifyWith(source, Token(key1(), "k1")), IsOk());
  endpoint.Serve(Json{{"keys", "garbage"}});  // a broken document is a failure too
  EXPECT_THAT(source->Refresh(), StatusIs(absl::StatusCode::kUnavailable));
  EXPECT_THAT(VerifyWith(source, Token(key1(), "k1")), IsOk());
}

TEST_F(KeySourcesTest, StaleKeysAreRefreshedAndAWithdrawnKeyStopsWorking) {
  FakeJwksEndpoint endpoint;
  endpoint.Serve(Jwks({testing::PublicJwk(key1(), "k1")}));
  auto source = Source(endpoint);
  ASSERT_THAT(VerifyWith(source, Token(key1(), "k1")), IsOk());
  endpoint.Serve(Jwks({testing::PublicJwk(key2(), "k2")}));  // the IdP withdrew k1
  clock_.Advance(absl::Hours(1));                            // max_key_age
  EXPECT_THAT(VerifyWith(source, Token(key1(), "k1")),
              StatusIs(absl::StatusCode::kUnauthenticated));
  EXPECT_EQ(endpoint.fetches(), 2);
  EXPECT_THAT(VerifyWith(source, Token(key2(), "k2")), IsOk());
  EXPECT_EQ(endpoint.fetches(), 2);
}

TEST_F(KeySourcesTest, StaleKeysStayInUseWhileTheIdpIsDownForUpToMaxStale) {
  FakeJwksEndpoint endpoint;
  endpoint.Serve(Jwks({testing::PublicJwk(key1(), "k1")}));
  auto source = Source(endpoint);
  ASSERT_THAT(VerifyWith(source, Token(key1(), "k1")), IsOk());
  endpoint.Fail(absl::UnavailableError("down"));
  // max_key_age (1 h) + max_stale (1 h), less a second.
  clock_.Advance(absl::Hours(2) - absl::Seconds(1));
  EXPECT_THAT(VerifyWith(source, Token(key1(), "k1")), IsOk());
  EXPECT_THAT(VerifyWith(source, Token(key1(), "k1")), IsOk());
  EXPECT_EQ(endpoint.fetches(), 2);
}

TEST_F(KeySourcesTest, KeysUnrefreshedPastMaxStaleAreUnavailableUntilARefreshSucceeds) {
  FakeJwksEndpoint endpoint;
  endpoint.Serve(Jwks({testing::PublicJwk(key1(), "k1")}));
  auto source = Source(endpoint);
  ASSERT_THAT(VerifyWith(source, Token(key1(), "k1")), IsOk());  // fetched at 22:13:20
  endpoint.Fail(absl::UnavailableError("connection refused"));
  clock_.Advance(absl::Hours(1));  // the refresh falls due and fails: the keys stay trusted
  EXPECT_THAT(VerifyWith(source, Token(key1(), "k1")), IsOk());
  clock_.Advance(absl::Minutes(59));
  EXPECT_THAT(VerifyWith(source, Token(key1(), "k1")), IsOk());
  ASSERT_EQ(endpoint.fetches(), 3);

  clock_.Advance(absl::Minutes(1));  // max_key_age + max_stale after the last good fetch
  absl::Status status = VerifyWith(source, Token(key1(), "k1"));
  EXPECT_THAT(status, StatusIs(absl::StatusCode::kUnavailable));
  EXPECT_EQ(ReasonOf(status), kReasonAuthKeysUnavailable);
  EXPECT_THAT(std::string(status.message()),
              HasSubstr("could not be refreshed from the identity provider since "
                        "2023-11-14T22:13:20+00:00"));
  EXPECT_THAT(std::string(status.message()), ::testing::Not(HasSubstr("idp.test")));
  EXPECT_EQ(endpoint.fetches(), 4) << "each lookup past the bound may try a refresh";
  // Inside the refetch floor nothing is fetched, and no kid is trusted.
  EXPECT_THAT(source->KeyFor("k1"), StatusIs(absl::StatusCode::kUnavailable));
  EXPECT_EQ(ReasonOf(source->KeyFor("k2").status()), kReasonAuthKeysUnavailable);
  EXPECT_EQ(endpoint.fetches(), 4);

  // The IdP answers again: the next refresh restores service.
  endpoint.Serve(Jwks({testing::PublicJwk(key1(), "k1")}));
  clock_.Advance(absl::Seconds(30));
  EXPECT_THAT(VerifyWith(source, Token(key1(), "k1")), IsOk());
  EXPECT_EQ(endpoint.fetches(), 5);
}

TEST_F(KeySourcesTest, MaxStaleCountsFromWhenTheRefreshFellDueNotFromTheFirstFailure) {
  FakeJwksEndpoint endpoint;
  endpoint.Serve(Jwks({testing::PublicJwk(key1(), "k1")}));
  auto source = Source(endpoint);
  ASSERT_THAT(VerifyWith(source, Token(key1(), "k1")), IsOk());
  endpoint.Fail(absl::UnavailableError("down"));
  // No lookups for three hours, so the first failed refresh comes late: the keys are not
  // granted another max_stale from it.
  clock_.Advance(absl::Hours(3));
  EXPECT_THAT(VerifyWith(source, Token(key1(), "k1")), StatusIs(absl::StatusCode::kUnavailable));
  EXPECT_EQ(endpoint.fetches(), 2);
}

TEST_F(KeySourcesTest, InfiniteMaxStaleTrustsTheLastKeysForever) {
  FakeJwksEndpoint endpoint;
  endpoint.Serve(Jwks({testing::PublicJwk(key1(), "k1")}));
  JwksOptions options{"https://idp.test/certs"};
  options.max_stale = absl::InfiniteDuration();
  auto source = std::make_shared<JwksKeySource>(options, clock_, endpoint.AsFetch());
  ASSERT_THAT(VerifyWith(source, Token(key1(), "k1")), IsOk());
  endpoint.Fail(absl::UnavailableError("down"));
  clock_.Advance(absl::Hours(24 * 30));
  EXPECT_THAT(VerifyWith(source, Token(key1(), "k1")), IsOk());
}

TEST_F(KeySourcesTest, TokenWithoutKidUsesTheOnlyKey) {
  FakeJwksEndpoint endpoint;
  Json jwk = testing::PublicJwk(key1(), "k1");
  endpoint.Serve(Jwks({jwk}));
  auto source = Source(endpoint);
  EXPECT_THAT(VerifyWith(source, Token(key1(), "")), IsOk());

  FakeJwksEndpoint two;
  two.Serve(Jwks({testing::PublicJwk(key1(), "k1"), testing::PublicJwk(key2(), "k2")}));
  EXPECT_THAT(VerifyWith(Source(two), Token(key1(), "")),
              StatusIs(absl::StatusCode::kUnauthenticated));
}

// --- the real libcurl fetch ---

TEST_F(KeySourcesTest, JwksIsFetchedOverHttpFromALocalServer) {
  TempDir dir;
  ASSERT_FALSE(dir.path().empty());
  dir.Write("jwks.json", Jwks({testing::PublicJwk(key1(), "k1")}).dump());
  std::unique_ptr<LocalHttpServer> server = LocalHttpServer::Start(dir.path());
  ASSERT_NE(server, nullptr) << "python3 -m http.server did not start";

  auto source = std::make_shared<JwksKeySource>(
      JwksOptions{absl::StrCat(server->base_url(), "/jwks.json")}, clock_);
  EXPECT_THAT(source->Refresh(), IsOk());
  EXPECT_THAT(VerifyWith(source, Token(key1(), "k1")), IsOk());

  absl::StatusOr<std::string> missing =
      HttpGet(absl::StrCat(server->base_url(), "/nope.json"), absl::Seconds(5));
  EXPECT_THAT(missing, StatusIs(absl::StatusCode::kUnavailable));
  EXPECT_THAT(std::string(missing.status().message()), HasSubstr("404"));
}

TEST(HttpGet, UnreachableServerIsUnavailable) {
  // Port 9 (discard) on loopback: nothing listens there in the test environment.
  EXPECT_THAT(HttpGet("http://127.0.0.1:9/jwks.json", absl::Seconds(5)),
              StatusIs(absl::StatusCode::kUnavailable));
  EXPECT_THAT(HttpGet("file:///etc/passwd", absl::Seconds(5)),
              StatusIs(absl::StatusCode::kUnavailable));
}

}  // namespace
}  // namespace securelink::invitations
