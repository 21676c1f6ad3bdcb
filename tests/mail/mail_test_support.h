// Helpers for the mail tests: a real SMTP server (python3-aiosmtpd) on a free port, a throw-away
// TLS certificate, and Python's email package as an independent judge of rendered messages.
#ifndef SECURELINK_TESTS_MAIL_MAIL_TEST_SUPPORT_H_
#define SECURELINK_TESTS_MAIL_MAIL_TEST_SUPPORT_H_

#include <sys/types.h>

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "tests/support/wait.h"

namespace securelink::testing {

// The interpreter that has python3-aiosmtpd (the pyenv `python3` on PATH does not).
inline constexpr char kSystemPython[] = "/usr/bin/python3";

// A fresh directory under $TMPDIR (or /tmp), removed with everything in it on destruction.
class TempDir {
 public:
  // Aborts the test program if no directory can be made (nothing sensible can follow).
  explicit TempDir(absl::string_view prefix = "securelink-mail");
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;

  const std::string& path() const { return path_; }
  std::string operator/(absl::string_view name) const;

 private:
  std::string path_;
};


struct ProcessResult {
  int exit_code = -1;  // -1 when killed by a signal
  std::string out;
  std::string err;
};

// Runs `args` (args[0] an absolute path) with `stdin_data` on stdin and `env` added to (or
// replacing entries of) this process's environment; collects stdout and stderr. A non-zero exit
// is reported in the result; DEADLINE_EXCEEDED (after killing it) if it runs past `timeout`.
absl::StatusOr<ProcessResult> RunProcess(
    std::vector<std::string> args, absl::string_view stdin_data,
    const std::vector<std::pair<std::string, std::string>>& env = {},
    absl::Duration timeout = absl::Seconds(60));

// A message as Python's email package (policy.default) reads it: what a mail client shows.
struct ParsedMessage {
  struct Part {
    std::string content_type;  // "text/plain"
    std::string charset;       // "utf-8"
    std::string transfer_encoding;
    std::string body;  // decoded text
  };
  std::string strict_error;  // why a policy.strict parse failed, or ""
  std::vector<std::string> defects;
  std::vector<std::pair<std::string, std::string>> headers;      // decoded values
  std::vector<std::pair<std::string, std::string>> raw_headers;  // as on the wire, unfolded
  std::string content_type;
  std::vector<Part> parts;  // the leaf parts, in order

  // The decoded value of the first header named `name` (any case), or "".
  std::string Header(absl::string_view name) const;
  // How many headers are named `name` (any case).
  int HeaderCount(absl::string_view name) const;
  // The header names, in order.
  std::vector<std::string> HeaderNames() const;
  // The decoded body of the first part of `content_type`, or "".
  std::string Body(absl::string_view content_type) const;
};

// Parses `raw` with tests/mail/inspect_message.py under /usr/bin/python3.
absl::StatusOr<ParsedMessage> InspectMessage(absl::string_view raw);

// A self-signed certificate for 127.0.0.1 and localhost, made with the openssl CLI.
struct TestCertificate {
  std::string cert_file;  // PEM; also the CA file that trusts it
  std::string key_file;
};
absl::StatusOr<TestCertificate> MakeTestCertificate(const std::string& dir);

// A real SMTP server: `python3 -m aiosmtpd` on a free 127.0.0.1 port, storing what it accepts in
// a Maildir. The process is killed (SIGKILL; it stores each message before answering 250, so
// nothing accepted is lost) and its directory removed on destruction. It dies with the test
// process even if that is killed.
class SmtpSink {
 public:
  struct Options {
    // Dotted path of the handler class; tests/mail is on PYTHONPATH, so
    // "smtp_test_handlers.ScriptedMailbox" works as well as aiosmtpd's own Mailbox.
    std::string handler = "aiosmtpd.handlers.Mailbox";
    // Extra environment for the handler (ScriptedMailbox reads SINK_* variables).
    std::vector<std::pair<std::string, std::string>> env;
    // Offer STARTTLS with this certificate (aiosmtpd then also requires it before MAIL).
    std::optional<TestCertificate> starttls;
    // Speak TLS from the first byte (smtps://) with this certificate.
    std::optional<TestCertificate> smtps;
    // Listen on this port (e.g. to bring a relay "back" where clients expect it); 0: a free one.
    int port = 0;
  };

  // Starts the server and returns once it answers on its port (retrying with another port if
  // the one picked was taken). INTERNAL with the server's output if it cannot start.
  static absl::StatusOr<std::unique_ptr<SmtpSink>> Start(Options options);
  static absl::StatusOr<std::unique_ptr<SmtpSink>> Start() { return Start(Options{}); }

  ~SmtpSink();
  SmtpSink(const SmtpSink&) = delete;
  SmtpSink& operator=(const SmtpSink&) = delete;

  int port() const { return port_; }
  // "smtp://127.0.0.1:<port>" or, for an smtps sink, "smtps://127.0.0.1:<port>".
  std::string url() const;
  const std::string& maildir() const { return maildir_; }

  // The messages stored so far (Maildir new/), sorted by file name.
  std::vector<std::string> Messages() const;
  // Polls until at least `count` messages are stored; DEADLINE_EXCEEDED after `timeout`.
  absl::StatusOr<std::vector<std::string>> WaitForMessages(
      size_t count, absl::Duration timeout = absl::Seconds(10)) const;

 private:
  SmtpSink() = default;

  std::unique_ptr<TempDir> dir_;
  std::string maildir_;
  std::string log_path_;
  bool smtps_ = false;
  int port_ = -1;
  pid_t pid_ = -1;
};

}  // namespace securelink::testing

#endif  // SECURELINK_TESTS_MAIL_MAIL_TEST_SUPPORT_H_
