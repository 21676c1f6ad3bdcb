// invitectl's commands: parse argv, call the Invitation Service, print. Everything the process
// touches (environment, files, terminals, streams) comes in through Environment and the two
// streams, so tests run the CLI in-process.
#ifndef SECURELINK_CLIENT_INVITECTL_COMMANDS_H_
#define SECURELINK_CLIENT_INVITECTL_COMMANDS_H_

#include <functional>
#include <optional>
#include <ostream>
#include <string>
#include <vector>

#include "args.h"

namespace securelink::invitations::invitectl {

// Default target when neither --address nor $INVITATIONS_ADDRESS is given.
inline constexpr char kDefaultAddress[] = "127.0.0.1:50051";

struct Environment {
  // An environment variable's value, or nullopt when unset.
  std::function<std::optional<std::string>(const std::string& name)> getenv;
  FileReader read_file;
  bool stdout_is_tty = false;
  bool stderr_is_tty = false;  // draws the bulk progress bar
};

// The process's real environment, files ("-" = standard input) and terminals.
Environment ProcessEnvironment();

// Runs invitectl with `argv` (without the program name); results go to `out`, errors, usage
// complaints and progress to `err`. Returns the exit code (kExitOk, kExitRpcError, kExitUsage,
// kExitBulkIncomplete).
int Run(const std::vector<std::string>& argv, const Environment& env, std::ostream& out,
        std::ostream& err);

}  // namespace securelink::invitations::invitectl

#endif  // SECURELINK_CLIENT_INVITECTL_COMMANDS_H_
