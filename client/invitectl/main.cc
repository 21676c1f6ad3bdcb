// invitectl: the operator's command line for the SecureLink Invitation Service.
#include <iostream>
#include <string>
#include <vector>

#include "commands.h"

int main(int argc, char** argv) {
  std::ios::sync_with_stdio(false);
  const std::vector<std::string> args(argv + 1, argv + argc);
  const int code = securelink::invitations::invitectl::Run(
      args, securelink::invitations::invitectl::ProcessEnvironment(), std::cout, std::cerr);
  std::cout.flush();
  return code;
}
