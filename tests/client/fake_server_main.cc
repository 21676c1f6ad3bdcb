// The fake InvitationService as a process, for tests that need a server on a port (the
// installed-package consumer test). Usage: fake_invitation_server PORT_FILE
// Writes the port it listens on to PORT_FILE, then serves until SIGTERM or SIGINT.
#include <signal.h>

#include <cstdio>
#include <fstream>

#include "fake_invitation_service.h"

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: %s PORT_FILE\n", argv[0]);
    return 2;
  }
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGINT);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);  // before gRPC starts its threads

  securelink::invitations::testing::FakeInvitationService service;
  securelink::invitations::testing::FakeServer server(&service);
  {
    const std::string tmp = std::string(argv[1]) + ".tmp";
    std::ofstream(tmp) << server.port() << "\n";
    std::rename(tmp.c_str(), argv[1]);  // readers never see a half-written file
  }
  int signal_number = 0;
  sigwait(&signals, &signal_number);
  server.Shutdown();
  return 0;
}
