#include "server/email_dispatcher.h"

#include <unistd.h>

#include "absl/random/random.h"
#include "absl/strings/str_cat.h"
#include "server/mail/mime.h"
#include "server/util/log.h"

namespace securelink::invitations {
namespace {

std::string DefaultOwner() {
  char host[256] = {0};
  gethostname(host, sizeof(host) - 1);
  return absl::StrCat(host, ":", getpid(), ":", NewUuid().substr(0, 8));
}

// Whether a message may go out: its link is the invitation's current one and the invitation is
// effectively PENDING at `now` (not resent, revoked, accepted or expired).
bool Deliverable(bool link_current, InvitationState state, absl::Time expire_time,
                 absl::Time now) {
  Invitation as_stored;
  as_stored.state = state;
  as_stored.expire_time = expire_time;
  return link_current && EffectiveState(as_stored, now) == InvitationState::kPending;
}

}  // namespace

absl::StatusOr<std::unique_ptr<EmailDispatcher>> EmailDispatcher::Create(
    OutboxStore& outbox, mail::MailSender& sender, mail::MailCatalog templates,
    TokenSealer sealer, const Clock& clock, EmailDispatcherOptions options) {
  absl::StatusOr<mail::Mailbox> from = mail::ParseMailbox(options.from, "smtp_from");
  if (!from.ok()) return from.status();
  if (options.owner.empty()) options.owner = DefaultOwner();
  return std::unique_ptr<EmailDispatcher>(new EmailDispatcher(
      outbox, sender, std::move(templates), std::move(sealer), clock, std::move(options),
      from->address));
}

EmailDispatcher::EmailDispatcher(OutboxStore& outbox, mail::MailSender& sender,
                                 mail::MailCatalog templates, TokenSealer sealer,
                                 const Clock& clock, EmailDispatcherOptions options,
                                 std::string envelope_from)
    : outbox_(outbox),
      sender_(sender),
      templates_(std::move(templates)),
      sealer_(std::move(sealer)),
      clock_(clock),
      options_(std::move(options)),
      envelope_from_(std::move(envelope_from)) {}

EmailDispatcher::~EmailDispatcher() { Stop(); }

void EmailDispatcher::Start() {
  for (int i = 0; i < options_.threads; ++i) threads_.emplace_back([this] { Loop(); });
}

void EmailDispatcher::Stop() {
  {
    absl::MutexLock lock(&mu_);
    stopping_ = true;
  }
  for (std::thread& t : threads_) t.join();
  threads_.clear();
}

void EmailDispatcher::Wake() {
  absl::MutexLock lock(&mu_);
  ++wakeups_;
}

absl::Duration EmailDispatcher::Backoff(int attempt) const {
  absl::Duration d = options_.initial_backoff;
  for (int i = 1; i < attempt && d < options_.max_backoff; ++i) d *= 2;
  d = std::min(d, options_.max_backoff);
  thread_local absl::BitGen gen;
  return d * absl::Uniform(gen, 0.8, 1.2);
}

void EmailDispatcher::Loop() {
  while (true) {
    {
      absl::MutexLock lock(&mu_);
      if (stopping_) return;
    }
    absl::StatusOr<int> handled = RunOnce();
    if (!handled.ok()) {
      Log(LogLevel::kWarning, "email dispatcher cannot reach the outbox",
          {{"error", std::string(handled.status().message())}});
    }
    if (handled.ok() && *handled > 0) continue;  // more may be due: go again at once
    absl::MutexLock lock(&mu_);
    const int seen = wakeups_;
    auto woken = [this, seen]() ABSL_SHARED_LOCKS_REQUIRED(mu_) {
      return stopping_ || wakeups_ != seen;
    };
    mu_.AwaitWithTimeout(absl::Condition(&woken), options_.poll_interval);
  }
}

void EmailDispatcher::Supersede(const ClaimedEmail& email) {
  absl::Status s = outbox_.MarkSuperseded(email, options_.owner, clock_.Now());
  if (!s.ok()) {
    Log(LogLevel::kWarning, "cannot record a superseded email", {{"error", s.ToString()}});
  }
}

absl::StatusOr<int> EmailDispatcher::RunOnce() {
  absl::StatusOr<std::vector<ClaimedEmail>> claimed =
      outbox_.Claim(options_.owner, options_.batch, clock_.Now(), options_.lease);
  if (!claimed.ok()) return claimed.status();
  for (const ClaimedEmail& email : *claimed) Deliver(email);
  return static_cast<int>(claimed->size());
}

void EmailDispatcher::Deliver(const ClaimedEmail& email) {
  const std::string& owner = options_.owner;
  const Invitation& inv = email.invitation;
  const LogFields fields = {{"invitation_id", inv.id}, {"message_id", email.message_id},
                            {"kind", email.reminder ? "reminder" : "invitation"},
                            {"attempt", email.attempts}, {"request_id", email.request_id}};
  // Already dead in the claim's snapshot (resent, revoked, accepted or expired before the claim):
  // nothing to render. Reminders take the same two looks: one queued for a link that was
  // accepted, revoked, resent or expired since is never sent.
  if (!Deliverable(email.link_current, inv.state, inv.expire_time, clock_.Now())) {
    Supersede(email);
    return;
  }
  absl::Status outcome;
  if (email.sealed_token.empty()) {
    // A live link always has its sealed copy; only an operator clears it (rotating the sealing
    // key discards copies the new key cannot open). Retrying cannot bring it back.
    outcome = absl::FailedPreconditionError(
        "the registration link's sealed copy was discarded (token sealing key rotation): resend "
        "the invitation to mail a new link");
  } else if (absl::StatusOr<std::string> token = sealer_.Open(email.sealed_token); !token.ok()) {
    // Start-up refuses a key that does not match the database's, so this is a replica started
    // without a key file next to others, or a key changed without the rotation procedure.
    outcome = absl::UnavailableError(
        "cannot open the registration link: it was sealed with another key; every replica of "
        "one database must use the same --token_sealing_key_file");
  } else {
    mail::InvitationEmail message;
    message.to = inv.email;
    message.role_display = mail::RoleDisplayName(inv.role);
    message.tenant_id = inv.tenant_id;
    message.inviter = inv.created_by;
    message.expire_time = inv.expire_time;
    message.registration_url = RegistrationUrl(options_.registration_base_url, *token);
    message.reminder = email.reminder;
    message.locale = inv.locale;
    absl::StatusOr<std::string> rendered = mail::RenderInvitationMessage(
        message, templates_, options_.from, email.message_id, email.queued_time);
    if (!rendered.ok()) {
      outcome = rendered.status();
    } else {
      // The last look before the hand-off (SPEC §10): a Resend or Revoke may have committed
      // since the claim, while this thread was rendering.
      absl::StatusOr<SendCheck> check = outbox_.RecheckBeforeSend(email, owner);
      if (!check.ok()) {
        outcome = absl::UnavailableError(absl::StrCat(
            "cannot confirm that the link is still current: ", check.status().message()));
      } else if (!check->still_claimed) {
        // Superseded in the database already, or the lease ran out and another dispatcher owns
        // the row now: sending or recording anything would be wrong either way.
        Log(LogLevel::kInfo, "invitation email no longer ours to send", fields);
        return;
      } else if (!Deliverable(check->link_current, check->state, check->expire_time,
                              clock_.Now())) {
        Supersede(email);
        return;
      } else {
        outcome = sender_.Send(mail::OutgoingMail{envelope_from_, inv.email, email.message_id,
                                                  *std::move(rendered)});
      }
    }
  }
  const absl::Time now = clock_.Now();
  absl::Status recorded;
  if (outcome.ok()) {
    recorded = outbox_.MarkSent(email, owner, now);
    Log(LogLevel::kInfo, "invitation email sent", fields);
  } else if (absl::IsUnavailable(outcome) && email.attempts < options_.max_attempts) {
    recorded = outbox_.MarkRetry(email, owner, now + Backoff(email.attempts), outcome.message(), now);
    LogFields f = fields;
    f.emplace_back("error", std::string(outcome.message()));
    Log(LogLevel::kWarning, "invitation email deferred", f);
  } else {
    recorded = outbox_.MarkFailed(email, owner, outcome.message(), now);
    LogFields f = fields;
    f.emplace_back("error", std::string(outcome.message()));
    Log(LogLevel::kError, "invitation email failed", f);
  }
  if (!recorded.ok()) {
    // The lease runs out and another round retries; at worst the message goes out twice with
    // the same Message-ID.
    Log(LogLevel::kWarning, "cannot record an email outcome", {{"error", recorded.ToString()}});
  }
}

}  // namespace securelink::invitations
