// The seam between the outbox dispatcher and whatever carries mail: an SMTP relay
// (smtp_mail_sender.h) or a directory of .eml files for local runs (eml_file_mail_sender.h).
#ifndef SECURELINK_SERVER_MAIL_MAIL_SENDER_H_
#define SECURELINK_SERVER_MAIL_MAIL_SENDER_H_

#include <string>

#include "absl/status/status.h"

namespace securelink::invitations::mail {

// One message to deliver.
struct OutgoingMail {
  std::string envelope_from;  // SMTP MAIL FROM: a bare address (ValidateMailAddress)
  std::string envelope_to;    // SMTP RCPT TO: a bare address (ValidateMailAddress)
  std::string message_id;     // the message's Message-ID (with or without <>), stable across retries
  std::string data;           // the whole RFC 5322 message, CRLF line ends (RenderInvitationMessage)
};

class MailSender {
 public:
  virtual ~MailSender() = default;

  // Hands `mail` to the transport. Thread-safe: dispatcher threads call it concurrently. Blocks
  // for at most the implementation's configured timeouts. Never logs `data` (it holds the
  // registration link) nor credentials.
  //
  // OK: accepted by the relay (or written to disk). Sending the same message again after an
  // ambiguous failure may deliver it twice; the Message-ID lets mail clients collapse duplicates.
  // UNAVAILABLE: a transient failure worth retrying later (connection refused, timeout, TLS or
  //   authentication trouble, a 4xx reply, disk full).
  // FAILED_PRECONDITION: the relay permanently refused this message (a 5xx reply to MAIL FROM,
  //   RCPT TO or the message data); the message carries the relay's reply text.
  // INVALID_ARGUMENT: `mail` itself is malformed (e.g. an envelope address with CR/LF): a bug in
  //   the caller, not worth retrying.
  // Callers should retry on UNAVAILABLE only.
  virtual absl::Status Send(const OutgoingMail& mail) = 0;
};

}  // namespace securelink::invitations::mail

#endif  // SECURELINK_SERVER_MAIL_MAIL_SENDER_H_
