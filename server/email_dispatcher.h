// Delivers the email outbox (SPEC §4): worker threads claim due messages with a lease, render
// each, re-read right before the SMTP hand-off that it still carries the invitation's current
// link (SPEC §10), send it without holding any database lock, then record the outcome; transient
// failures retry with exponential backoff and jitter up to a limit. Every replica runs one; SKIP
// LOCKED keeps them from sending twice.
#ifndef SECURELINK_SERVER_EMAIL_DISPATCHER_H_
#define SECURELINK_SERVER_EMAIL_DISPATCHER_H_

#include <string>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "server/domain/clock.h"
#include "server/domain/token.h"
#include "server/mail/mail_sender.h"
#include "server/mail/message.h"
#include "storage/outbox_store.h"

namespace securelink::invitations {

struct EmailDispatcherOptions {
  int threads = 2;                                     // concurrent SMTP conversations
  int batch = 8;                                       // messages claimed per round
  absl::Duration poll_interval = absl::Milliseconds(250);
  // Longer than the SMTP sender's own timeout, so a live sender never loses its lease; a dead
  // one's messages are claimed again after this.
  absl::Duration lease = absl::Seconds(120);
  int max_attempts = 8;
  absl::Duration initial_backoff = absl::Seconds(5);
  absl::Duration max_backoff = absl::Minutes(30);
  std::string from = "SecureLink <no-reply@securelink.local>";
  std::string registration_base_url;
  std::string owner;  // this replica's lease name; empty: host:pid:random
};

class EmailDispatcher {
 public:
  // Everything passed in must outlive the dispatcher. INVALID_ARGUMENT for a bad `from`.
  static absl::StatusOr<std::unique_ptr<EmailDispatcher>> Create(
      OutboxStore& outbox, mail::MailSender& sender, mail::MailCatalog templates,
      TokenSealer sealer, const Clock& clock, EmailDispatcherOptions options);
  ~EmailDispatcher();  // Stop()s

  // Starts the worker threads.
  void Start();
  // Asks the workers to finish the message in hand and exit; joins them. Idempotent.
  void Stop();
  // Wakes sleeping workers (e.g. right after this replica queued a message).
  void Wake();

  // One claim-and-deliver round on the calling thread; returns how many messages it handled.
  absl::StatusOr<int> RunOnce();

  // The delay before attempt `attempt + 1` (attempt ≥ 1): initial × 2^(attempt-1), capped,
  // with ±20 % jitter so replicas do not retry in lock-step.
  absl::Duration Backoff(int attempt) const;

 private:
  EmailDispatcher(OutboxStore& outbox, mail::MailSender& sender, mail::MailCatalog templates,
                  TokenSealer sealer, const Clock& clock, EmailDispatcherOptions options,
                  std::string envelope_from);
  void Deliver(const ClaimedEmail& email);
  // Records that `email` will never be sent (its link is dead).
  void Supersede(const ClaimedEmail& email);
  void Loop();

  OutboxStore& outbox_;
  mail::MailSender& sender_;
  const mail::MailCatalog templates_;  // every language; each message picks its own
  const TokenSealer sealer_;
  const Clock& clock_;
  const EmailDispatcherOptions options_;
  const std::string envelope_from_;
  absl::Mutex mu_;
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  int wakeups_ ABSL_GUARDED_BY(mu_) = 0;
  std::vector<std::thread> threads_;
};

}  // namespace securelink::invitations

#endif  // SECURELINK_SERVER_EMAIL_DISPATCHER_H_
