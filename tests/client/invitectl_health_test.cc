// `invitectl health`, the container HEALTHCHECK: run in-process against gRPC's own
// grpc.health.v1 implementation (the one invitation_server serves), with each serving status.
#include <memory>
#include <sstream>
#include <string>

#include "absl/strings/str_cat.h"
#include "commands.h"
#include "gmock/gmock.h"
#include "grpcpp/grpcpp.h"
#include "grpcpp/health_check_service_interface.h"
#include "gtest/gtest.h"

namespace securelink::invitations::invitectl {
namespace {

using ::testing::HasSubstr;

constexpr char kService[] = "securelink.invitations.v1.InvitationService";

class InvitectlHealthTest : public ::testing::Test {
 protected:
  InvitectlHealthTest() {
    grpc::EnableDefaultHealthCheckService(true);
    grpc::ServerBuilder builder;
    builder.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(), &port_);
    server_ = builder.BuildAndStart();
  }
  ~InvitectlHealthTest() override { server_->Shutdown(); }

  struct Result {
    int code;
    std::string out;
    std::string err;
  };

  Result Invitectl(std::vector<std::string> argv, int port) {
    Environment env;
    env.getenv = [port](const std::string& name) -> std::optional<std::string> {
      if (name == "INVITATIONS_ADDRESS") return absl::StrCat("127.0.0.1:", port);
      return std::nullopt;
    };
    env.read_file = [](const std::string& path) -> absl::StatusOr<std::string> {
      return absl::NotFoundError(path);
    };
    std::ostringstream out, err;
    const int code = invitectl::Run(argv, env, out, err);
    return {code, out.str(), err.str()};
  }
  Result Invitectl(std::vector<std::string> argv) { return Invitectl(std::move(argv), port_); }

  grpc::HealthCheckServiceInterface& health() { return *server_->GetHealthCheckService(); }

  int port_ = 0;
  std::unique_ptr<grpc::Server> server_;
};

TEST_F(InvitectlHealthTest, ServingExitsZero) {
  health().SetServingStatus(kService, true);
  const Result r = Invitectl({"health"});
  EXPECT_EQ(r.code, kExitOk) << r.err;
  EXPECT_EQ(r.out, "SERVING\n");
}

TEST_F(InvitectlHealthTest, NotServingExitsOne) {
  health().SetServingStatus(kService, false);
  const Result r = Invitectl({"health"});
  EXPECT_EQ(r.code, kExitRpcError);
  EXPECT_EQ(r.out, "NOT_SERVING\n");
}

TEST_F(InvitectlHealthTest, AsksAboutTheInvitationServiceNotTheWholeServer) {
  // The server as a whole is SERVING while the InvitationService waits for its database: a probe
  // that asked about "" would route traffic to a replica that cannot answer.
  health().SetServingStatus("", true);
  health().SetServingStatus(kService, false);
  EXPECT_EQ(Invitectl({"health"}).code, kExitRpcError);
  const Result whole = Invitectl({"health", "--service="});
  EXPECT_EQ(whole.code, kExitOk) << whole.err;
  EXPECT_EQ(whole.out, "SERVING\n");
}

TEST_F(InvitectlHealthTest, AnUnknownServiceIsNotFound) {
  const Result r = Invitectl({"health", "--service", "no.such.Service"});
  EXPECT_EQ(r.code, kExitRpcError);
  EXPECT_THAT(r.err, HasSubstr("NOT_FOUND"));
}

TEST_F(InvitectlHealthTest, AServerThatIsGoneIsUnhealthy) {
  const int port = port_;
  server_->Shutdown();
  const Result r = Invitectl({"health", "--deadline", "2s"}, port);
  EXPECT_EQ(r.code, kExitRpcError);
  EXPECT_THAT(r.err, HasSubstr("UNAVAILABLE"));
}

}  // namespace
}  // namespace securelink::invitations::invitectl
