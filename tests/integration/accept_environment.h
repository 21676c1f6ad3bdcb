// The accept saga's test environment: a Keycloak stand-in (tests/keycloak/keycloak_standin.py),
// a KeycloakAdminClient pointed at it and an in-process invitation server (auth disabled: every
// admin caller is a SuperAdmin) that accepts through that client, plus what tests read back.
#ifndef SECURELINK_TESTS_INTEGRATION_ACCEPT_ENVIRONMENT_H_
#define SECURELINK_TESTS_INTEGRATION_ACCEPT_ENVIRONMENT_H_

#include <grpcpp/grpcpp.h>

#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "nlohmann/json.hpp"
#include "server/keycloak/keycloak_admin_client.h"
#include "tests/keycloak/keycloak_standin.h"
#include "tests/support/test_server.h"

namespace securelink::testing {

namespace pb = ::securelink::invitations::v1;

inline constexpr char kPassword[] = "Correct-Horse-7731";

std::vector<std::string> RolesOf(const nlohmann::json& user);
std::vector<std::string> AttributeOf(const nlohmann::json& user, const std::string& name);

// An AcceptInvitationRequest for `token` with names Ada Lovelace.
pb::AcceptInvitationRequest AcceptRequest(const std::string& token,
                                          const std::string& password = kPassword,
                                          const std::string& username = "");

class AcceptEnvironment {
 public:
  // Call from the main test thread: the stand-in and MariaDB die with the thread that started
  // them. nullptr (with a test failure) if something could not start.
  static std::unique_ptr<AcceptEnvironment> Start(
      TestServerOptions options = {}, absl::Duration keycloak_timeout = absl::Seconds(5),
      KeycloakStandinOptions standin_options = {});
  ~AcceptEnvironment();

  KeycloakStandin& standin() { return *standin_; }
  TestServer& server() { return *server_; }
  pb::InvitationService::Stub& stub() { return server_->stub(); }

  // A PENDING invitation (suppress_email) and its link's token.
  std::pair<pb::Invitation, std::string> Invite(pb::Role role = pb::ROLE_VPN_USER,
                                                const std::string& tenant = "acme");
  grpc::Status Accept(const pb::AcceptInvitationRequest& req,
                      pb::AcceptInvitationResponse* resp = nullptr,
                      absl::Duration deadline = absl::Seconds(30));
  grpc::Status Validate(const std::string& token);
  pb::Invitation Get(const std::string& id);
  grpc::Status Revoke(const std::string& id);
  // Resends `id`; the new link's token goes to `new_token` when the call succeeds.
  grpc::Status Resend(const std::string& id, std::string* new_token = nullptr);

  // The stand-in's users with `email` (Keycloak lower-cases emails), and those that carry
  // invitation_id `id`.
  std::vector<nlohmann::json> UsersWithEmail(const std::string& email);
  std::vector<nlohmann::json> UsersWithInvitation(const std::string& id);
  // Whether the stand-in lets `login` (username or email) log in with `password`.
  bool CanLogIn(const std::string& login, const std::string& password);

  // One SQL value from this server's database ("" for NULL or no row).
  std::string QueryValue(const std::string& sql);
  int64_t AcceptedEvents(const std::string& id);
  std::string RecordedAcceptUserId(const std::string& id);

  // The stand-in's request log, and how many entries after `from` match.
  size_t RequestCount();
  int CountRequests(size_t from, const std::string& method, const std::string& path_part,
                    long status = -1);

 private:
  AcceptEnvironment() = default;
  std::unique_ptr<KeycloakStandin> standin_;
  std::unique_ptr<invitations::KeycloakAdminClient> client_;
  std::unique_ptr<TestServer> server_;
};

}  // namespace securelink::testing

#endif  // SECURELINK_TESTS_INTEGRATION_ACCEPT_ENVIRONMENT_H_
