// MailSender for runs without an SMTP relay: each message becomes an .eml file in a directory
// (SPEC §4 "With no SMTP relay configured, mail is written as .eml files").
#ifndef SECURELINK_SERVER_MAIL_EML_FILE_MAIL_SENDER_H_
#define SECURELINK_SERVER_MAIL_EML_FILE_MAIL_SENDER_H_

#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "server/mail/mail_sender.h"

namespace securelink::invitations::mail {

class EmlFileMailSender final : public MailSender {
 public:
  // Creates `dir` and its parents when missing (mode 0700: messages hold registration links).
  // INVALID_ARGUMENT for an empty `dir`; UNAVAILABLE when it cannot be created or is not a
  // directory.
  static absl::StatusOr<std::unique_ptr<EmlFileMailSender>> Create(std::string dir);

  // Writes mail.data to <dir>/<FileNameFor(mail.message_id)>, atomically: a reader sees the whole
  // file or none (temporary file, fsync, rename, fsync of the directory). Sending the same
  // message id again replaces the file, so a retry leaves one file. The envelope is not written
  // (the To header names the recipient); envelope addresses are still validated. Files are mode
  // 0600. Recreates `dir` if it has been removed since Create.
  //
  // Errors: INVALID_ARGUMENT for a malformed envelope address or an empty message id or data;
  // UNAVAILABLE for any file-system failure (disk full, permissions), worth retrying.
  absl::Status Send(const OutgoingMail& mail) override;

  // "<sanitised message id>.eml": the id without its angle brackets, with characters other than
  // letters, digits and ".-_@+=" replaced by '_'; if anything was replaced (or the id is very
  // long) a hash of the original id is appended so that distinct ids keep distinct files.
  static std::string FileNameFor(absl::string_view message_id);

  const std::string& dir() const { return dir_; }

 private:
  explicit EmlFileMailSender(std::string dir) : dir_(std::move(dir)) {}

  const std::string dir_;
};

}  // namespace securelink::invitations::mail

#endif  // SECURELINK_SERVER_MAIL_EML_FILE_MAIL_SENDER_H_
