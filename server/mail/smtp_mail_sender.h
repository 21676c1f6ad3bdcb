// MailSender over SMTP through libcurl: smtp:// (with STARTTLS) or smtps://, optional AUTH.
#ifndef SECURELINK_SERVER_MAIL_SMTP_MAIL_SENDER_H_
#define SECURELINK_SERVER_MAIL_SMTP_MAIL_SENDER_H_

#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "server/mail/mail_sender.h"

namespace securelink::invitations::mail {

struct SmtpOptions {
  // smtp://host[:port][/ehlo-name] (plain, upgraded with STARTTLS per `tls`; port 25 by default)
  // or smtps://host[:port] (TLS from the first byte; port 465 by default). Credentials do not
  // belong in the URL: use username/password.
  std::string url;

  enum class Tls {
    // STARTTLS when the relay offers it, plain text otherwise (CURLUSESSL_TRY).
    kOpportunistic,
    // Refuse to send unless STARTTLS succeeds (CURLUSESSL_ALL): a relay that does not offer it
    // gives UNAVAILABLE.
    kRequired,
  };
  Tls tls = Tls::kOpportunistic;

  // AUTH with these when `username` is not empty (any mechanism both sides support). Never
  // logged, never part of a status message. With kOpportunistic and a relay without STARTTLS
  // they would cross the network in clear text: Create() logs a warning for that setup.
  std::string username;
  std::string password;

  // PEM file of CA certificates that verify the relay's certificate; empty: the system store.
  std::string ca_file;
  // Skip verifying the relay's certificate and host name (a local relay with a self-signed
  // certificate). Create() logs a warning when set.
  bool insecure_skip_verify = false;

  // Limit on establishing the TCP (and smtps:// TLS) connection.
  absl::Duration connect_timeout = absl::Seconds(10);
  // Limit on one whole Send(), connection included. A relay that stalls longer is UNAVAILABLE.
  absl::Duration timeout = absl::Seconds(60);
};

// Delivers each message on its own connection (a curl easy handle per Send), so concurrent
// Send() calls share nothing. Classifies failures as MailSender documents:
//   - 5xx to MAIL FROM, RCPT TO or the message data: FAILED_PRECONDITION with the reply text,
//     e.g. "SMTP relay refused RCPT TO permanently: 550 5.1.1 mailbox unavailable". Except 530
//     (authentication required) and 538 (encryption required), which are relay configuration
//     problems and therefore UNAVAILABLE, like every other failure: connection refused or
//     reset, DNS, timeouts, TLS and certificate failures, AUTH rejected (535), 4xx replies.
// Status messages carry the relay's last reply and curl's error text, never credentials or
// message content.
class SmtpMailSender final : public MailSender {
 public:
  // Validates `options` (scheme smtp/smtps, a host, no credentials in the URL, positive
  // timeouts) and initialises libcurl once per process. INVALID_ARGUMENT for bad options;
  // FAILED_PRECONDITION when libcurl lacks SMTP support.
  static absl::StatusOr<std::unique_ptr<SmtpMailSender>> Create(SmtpOptions options);

  absl::Status Send(const OutgoingMail& mail) override;

 private:
  explicit SmtpMailSender(SmtpOptions options) : options_(std::move(options)) {}

  const SmtpOptions options_;
};

}  // namespace securelink::invitations::mail

#endif  // SECURELINK_SERVER_MAIL_SMTP_MAIL_SENDER_H_
