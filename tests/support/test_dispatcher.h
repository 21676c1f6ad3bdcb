// An email dispatcher as one replica runs it (its own connection pool and SMTP sender) on a test
// server's database, and a test double around the real outbox store that runs a hook right after
// a claim has committed, so that whatever the hook does (a Resend, a Revoke, an accept) lands
// between the dispatcher's claim and its SMTP hand-off.
#ifndef SECURELINK_TESTS_SUPPORT_TEST_DISPATCHER_H_
#define SECURELINK_TESTS_SUPPORT_TEST_DISPATCHER_H_

#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "server/domain/clock.h"
#include "server/email_dispatcher.h"
#include "server/mail/message.h"
#include "server/mail/smtp_mail_sender.h"
#include "storage/connection_pool.h"
#include "storage/mysql_outbox_store.h"
#include "storage/mysql_uri.h"
#include "storage/outbox_store.h"
#include "tests/support/test_server.h"

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

// A dispatcher on `server`'s database sending through `smtp_url`, leased as `owner`, retrying
// quickly; on `clock` (nullptr: the system clock). With `after_first_claim` its outbox is wrapped
// in InterposeAfterClaim. Drive it with dispatcher->RunOnce() or Start()/Stop().
struct TestDispatcher {
  TestDispatcher(TestServer& server, const std::string& smtp_url, const std::string& owner,
                 std::function<void()> after_first_claim = nullptr,
                 const invitations::Clock* clock = nullptr) {
    auto endpoint = invitations::ParseMysqlUri(SharedMariaDb().Uri(server.database()));
    pool = std::make_unique<invitations::ConnectionPool>(*endpoint,
                                                         invitations::ConnectionPoolOptions{});
    outbox = std::make_unique<invitations::MysqlOutboxStore>(*pool);
    invitations::OutboxStore* used = outbox.get();
    if (after_first_claim != nullptr) {
      interposer = std::make_unique<InterposeAfterClaim>(*outbox, std::move(after_first_claim));
      used = interposer.get();
    }
    invitations::mail::SmtpOptions smtp;
    smtp.url = smtp_url;
    smtp.connect_timeout = absl::Seconds(2);
    smtp.timeout = absl::Seconds(10);
    sender = *invitations::mail::SmtpMailSender::Create(smtp);
    invitations::EmailDispatcherOptions options;
    options.owner = owner;
    options.registration_base_url = "https://register.example.test/register";
    options.initial_backoff = absl::Milliseconds(50);
    options.max_backoff = absl::Milliseconds(200);
    options.max_attempts = 1000;
    options.poll_interval = absl::Milliseconds(50);
    dispatcher = *invitations::EmailDispatcher::Create(
        *used, *sender, invitations::mail::DefaultMailTemplates(), server.sealer(),
        clock != nullptr ? *clock : system_clock, options);
  }
  invitations::SystemClock system_clock;
  std::unique_ptr<invitations::ConnectionPool> pool;
  std::unique_ptr<invitations::MysqlOutboxStore> outbox;
  std::unique_ptr<InterposeAfterClaim> interposer;
  std::unique_ptr<invitations::mail::SmtpMailSender> sender;
  std::unique_ptr<invitations::EmailDispatcher> dispatcher;
};

}  // namespace securelink::testing

#endif  // SECURELINK_TESTS_SUPPORT_TEST_DISPATCHER_H_
