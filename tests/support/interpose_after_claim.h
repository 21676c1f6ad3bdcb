// A test double around the real outbox store: it runs a hook right after a claim has committed,
// so that whatever the hook does (a Resend, a Revoke, an accept) lands between the dispatcher's
// claim and its SMTP hand-off.
#ifndef SECURELINK_TESTS_SUPPORT_INTERPOSE_AFTER_CLAIM_H_
#define SECURELINK_TESTS_SUPPORT_INTERPOSE_AFTER_CLAIM_H_

#include <functional>
#include <utility>
#include <vector>

#include "storage/outbox_store.h"

namespace securelink::testing {

// The real outbox, except that the first Claim() that claims anything runs `interpose` right
// after the claim has committed: whatever it does (a Resend, a Revoke) lands exactly between the
// claim and the SMTP hand-off, the window the dispatcher's last re-read is there for. Not
// thread-safe: drive the dispatcher with RunOnce() from one thread.
class InterposeAfterClaim final : public invitations::OutboxStore {
 public:
  InterposeAfterClaim(invitations::OutboxStore& real, std::function<void()> interpose)
      : real_(real), interpose_(std::move(interpose)) {}

  absl::StatusOr<std::vector<invitations::ClaimedEmail>> Claim(
      absl::string_view owner, int limit, absl::Time now, absl::Duration lease) override {
    auto claimed = real_.Claim(owner, limit, now, lease);
    if (claimed.ok() && !claimed->empty() && interpose_ != nullptr) {
      std::exchange(interpose_, nullptr)();
    }
    return claimed;
  }
  absl::StatusOr<invitations::SendCheck> RecheckBeforeSend(
      const invitations::ClaimedEmail& email, absl::string_view owner) override {
    return real_.RecheckBeforeSend(email, owner);
  }
  absl::Status MarkSent(const invitations::ClaimedEmail& email, absl::string_view owner,
                        absl::Time now) override {
    return real_.MarkSent(email, owner, now);
  }
  absl::Status MarkRetry(const invitations::ClaimedEmail& email, absl::string_view owner,
                         absl::Time retry_at, absl::string_view error, absl::Time now) override {
    return real_.MarkRetry(email, owner, retry_at, error, now);
  }
  absl::Status MarkFailed(const invitations::ClaimedEmail& email, absl::string_view owner,
                          absl::string_view error, absl::Time now) override {
    return real_.MarkFailed(email, owner, error, now);
  }
  absl::Status MarkSuperseded(const invitations::ClaimedEmail& email, absl::string_view owner,
                              absl::Time now) override {
    return real_.MarkSuperseded(email, owner, now);
  }
  absl::StatusOr<invitations::OutboxStats> Stats(absl::Time now) override {
    return real_.Stats(now);
  }

 private:
  invitations::OutboxStore& real_;
  std::function<void()> interpose_;
};

}  // namespace securelink::testing

#endif  // SECURELINK_TESTS_SUPPORT_INTERPOSE_AFTER_CLAIM_H_
