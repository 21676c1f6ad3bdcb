// Creates one invitation through the installed client library.
//   INVITATIONS_ADDRESS=host:port [INVITATIONS_TOKEN=jwt] consumer [EMAIL [TENANT]]
#include <cstdlib>
#include <iostream>

#include "securelink/invitations/client.h"

namespace invitations = securelink::invitations;

int main(int argc, char** argv) {
  invitations::client::ClientOptions options;
  if (const char* address = std::getenv("INVITATIONS_ADDRESS")) options.target = address;
  if (const char* token = std::getenv("INVITATIONS_TOKEN")) options.bearer_token = token;
  invitations::client::InvitationClient client(options);

  invitations::v1::CreateInvitationRequest request;
  request.set_email(argc > 1 ? argv[1] : "consumer@example.com");
  request.set_tenant_id(argc > 2 ? argv[2] : "example");
  request.set_role(invitations::v1::ROLE_VPN_USER);

  const auto response = client.CreateInvitation(request);
  if (!response.ok()) {
    std::cerr << "error: " << invitations::client::DecodeError(response.status()).ToString()
              << "\n";
    return 1;
  }
  std::cout << "created " << response->invitation().id() << " for "
            << response->invitation().email() << "\n"
            << "registration_url: " << response->registration_url() << "\n";
  return 0;
}
