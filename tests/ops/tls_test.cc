// TLS and mutual TLS on the real invitation_server binary, with certificates made by openssl for
// this run: a client that trusts the CA is served; under mTLS a client with a certificate the CA
// signed is served and one without a certificate is refused. Bad TLS settings stop the start
// with a message naming the setting.
#include <grpcpp/grpcpp.h>
#include <stdlib.h>

#include <memory>
#include <string>

#include "absl/strings/match.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "securelink/invitations/v1/invitation_service.grpc.pb.h"
#include "tests/client/e2e_support.h"

namespace securelink::testing::e2e {
namespace {

namespace v1 = ::securelink::invitations::v1;

// A CA, a server certificate for 127.0.0.1/localhost and a client certificate, in a directory
// of this process's own.
struct Pki {
  std::string dir;
  std::string ca, server_cert, server_key, client_cert, client_key;
  std::string Path(absl::string_view name) const { return absl::StrCat(dir, "/", name); }
};

const Pki& TestPki() {
  static const Pki* pki = [] {
    auto* p = new Pki;
    std::string pattern = "/tmp/securelink-tls-XXXXXX";
    if (mkdtemp(pattern.data()) == nullptr) return p;
    p->dir = pattern;
    auto openssl = [&](std::vector<std::string> args) {
      ProgramResult r = RunProgram("/usr/bin/openssl", args, {});
      EXPECT_EQ(r.exit_code, 0) << absl::StrJoin(args, " ") << "\n" << r.err;
    };
    const std::string server_ext = WriteTempFile(
        "server.ext", "subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\n");
    const std::string client_ext = WriteTempFile("client.ext", "extendedKeyUsage=clientAuth\n");
    openssl({"req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj",
             "/CN=securelink test CA", "-keyout", p->Path("ca.key"), "-out", p->Path("ca.pem")});
    for (const auto& [name, ext] : {std::pair{std::string("server"), server_ext},
                                   std::pair{std::string("client"), client_ext}}) {
      openssl({"req", "-newkey", "rsa:2048", "-nodes", "-subj", absl::StrCat("/CN=", name),
               "-keyout", p->Path(name + ".key"), "-out", p->Path(name + ".csr")});
      openssl({"x509", "-req", "-in", p->Path(name + ".csr"), "-CA", p->Path("ca.pem"), "-CAkey",
               p->Path("ca.key"), "-CAcreateserial", "-days", "2", "-extfile", ext, "-out",
               p->Path(name + ".pem")});
    }
    p->ca = ReadWholeFile(p->Path("ca.pem"));
    p->server_cert = ReadWholeFile(p->Path("server.pem"));
    p->server_key = ReadWholeFile(p->Path("server.key"));
    p->client_cert = ReadWholeFile(p->Path("client.pem"));
    p->client_key = ReadWholeFile(p->Path("client.key"));
    return p;
  }();
  return *pki;
}

std::unique_ptr<ServerProcess> StartServer(bool mutual) {
  const Pki& pki = TestPki();
  const std::string db = UniqueName("tls");
  EXPECT_TRUE(SharedDb().CreateDatabase(db).ok());
  ServerProcess::Options options;
  options.mysql_uri = SharedDb().Uri(db);
  options.env = {absl::StrCat("INVITATIONS_TLS_CERT_FILE=", pki.Path("server.pem")),
                 absl::StrCat("INVITATIONS_TLS_KEY_FILE=", pki.Path("server.key"))};
  if (mutual) {
    options.env.push_back(absl::StrCat("INVITATIONS_TLS_CLIENT_CA_FILE=", pki.Path("ca.pem")));
  }
  absl::StatusOr<std::unique_ptr<ServerProcess>> server = ServerProcess::Start(options);
  EXPECT_TRUE(server.ok()) << server.status();
  return server.ok() ? *std::move(server) : nullptr;
}

grpc::Status CreateOne(const std::shared_ptr<grpc::ChannelCredentials>& credentials,
                       const std::string& address) {
  auto stub = v1::InvitationService::NewStub(grpc::CreateChannel(address, credentials));
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
  v1::CreateInvitationRequest req;
  req.set_email(UniqueEmail("tls"));
  req.set_role(v1::ROLE_SUPER_ADMIN);
  v1::CreateInvitationResponse resp;
  return stub->CreateInvitation(&ctx, req, &resp);
}

std::shared_ptr<grpc::ChannelCredentials> Trusting(bool with_client_cert) {
  const Pki& pki = TestPki();
  grpc::SslCredentialsOptions ssl;
  ssl.pem_root_certs = pki.ca;
  if (with_client_cert) {
    ssl.pem_cert_chain = pki.client_cert;
    ssl.pem_private_key = pki.client_key;
  }
  return grpc::SslCredentials(ssl);
}

TEST(Tls, AClientTrustingTheCaIsServedAndAPlaintextClientIsNot) {
  std::unique_ptr<ServerProcess> server = StartServer(/*mutual=*/false);
  ASSERT_NE(server, nullptr);
  EXPECT_THAT(server->Log(), ::testing::HasSubstr("\"tls\":\"on\""));
  grpc::Status s = CreateOne(Trusting(false), server->address());
  EXPECT_TRUE(s.ok()) << s.error_message();
  EXPECT_EQ(CreateOne(grpc::InsecureChannelCredentials(), server->address()).error_code(),
            grpc::StatusCode::UNAVAILABLE);
}

TEST(Tls, MutualTlsServesACertifiedClientAndRefusesOneWithoutACertificate) {
  std::unique_ptr<ServerProcess> server = StartServer(/*mutual=*/true);
  ASSERT_NE(server, nullptr);
  EXPECT_THAT(server->Log(), ::testing::HasSubstr("\"tls\":\"mutual\""));
  grpc::Status s = CreateOne(Trusting(true), server->address());
  EXPECT_TRUE(s.ok()) << s.error_message();
  EXPECT_EQ(CreateOne(Trusting(false), server->address()).error_code(),
            grpc::StatusCode::UNAVAILABLE);
}

TEST(Tls, BadTlsSettingsStopTheStartNamingTheSetting) {
  const Pki& pki = TestPki();
  const std::string db = UniqueName("tlsbad");
  ASSERT_TRUE(SharedDb().CreateDatabase(db).ok());
  const std::vector<std::string> base = {absl::StrCat("INVITATIONS_MYSQL_URI=", SharedDb().Uri(db)),
                                         "INVITATIONS_AUTH=disabled",
                                         "INVITATIONS_GRPC_ADDRESS=127.0.0.1:0",
                                         "INVITATIONS_METRICS_ADDRESS=127.0.0.1:0",
                                         "INVITATIONS_WEB_ADDRESS=127.0.0.1:0"};
  struct Case {
    std::vector<std::string> env;
    std::string names;
  };
  const Case cases[] = {
      {{absl::StrCat("INVITATIONS_TLS_CERT_FILE=", pki.Path("server.pem"))}, "--tls_key_file"},
      {{absl::StrCat("INVITATIONS_TLS_CERT_FILE=", pki.Path("missing.pem")),
        absl::StrCat("INVITATIONS_TLS_KEY_FILE=", pki.Path("server.key"))},
       "--tls_cert_file"},
      {{absl::StrCat("INVITATIONS_TLS_CERT_FILE=", pki.Path("server.key")),
        absl::StrCat("INVITATIONS_TLS_KEY_FILE=", pki.Path("server.key"))},
       "--tls_cert_file"},
      {{absl::StrCat("INVITATIONS_TLS_CLIENT_CA_FILE=", pki.Path("ca.pem"))},
       "--tls_client_ca_file"},
  };
  for (const Case& c : cases) {
    std::vector<std::string> env = c.env;
    env.insert(env.end(), base.begin(), base.end());
    ProgramResult r = RunProgram(INVITATION_SERVER_PATH, {}, env, "", absl::Seconds(30));
    EXPECT_NE(r.exit_code, 0) << c.names;
    EXPECT_THAT(r.err, ::testing::HasSubstr(c.names));
    EXPECT_FALSE(absl::StrContains(r.err, "PRIVATE KEY")) << "key material in the log";
  }
}

}  // namespace
}  // namespace securelink::testing::e2e
