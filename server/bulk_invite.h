// BulkInvite (SPEC §3): one role and tenant for many addresses, decided chunk by chunk so that
// results can stream while later chunks are still being processed. Knows neither gRPC nor SQL.
#ifndef SECURELINK_SERVER_BULK_INVITE_H_
#define SECURELINK_SERVER_BULK_INVITE_H_

#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "server/domain/bulk_input.h"
#include "server/domain/clock.h"
#include "server/domain/invitation.h"
#include "server/domain/token.h"
#include "server/domain/validation.h"
#include "server/invitation_service.h"
#include "storage/invitation_store.h"
#include "storage/tenant_policy_store.h"

namespace securelink::invitations {

enum class BulkOutcome {
  kCreated,
  kSkippedPending,
  kSkippedDuplicate,
  kInvalidEmail,
  kFailed,
  kDomainNotAllowed,  // the tenant's policy refuses the address's domain; counted as invalid
  kPendingLimitReached,  // the tenant's pending quota had no place left; counted as failed
};

struct BulkResult {
  std::string input;  // as given
  std::string email;  // normalised; empty when invalid
  int line = 0;       // 1-based input line or list position
  BulkOutcome outcome = BulkOutcome::kFailed;
  std::string invitation_id;  // created, or the active one that caused a skip
  std::string message;
};

struct BulkSummary {
  int total = 0;
  int created = 0;
  int skipped = 0;  // pending + duplicate
  int invalid = 0;
  int failed = 0;
  // Of invalid and failed: the tenant's policy refused them (metrics only).
  int domain_not_allowed = 0;
  int pending_limit_reached = 0;
  void Add(const BulkResult& result);
};

enum class BulkSource { kNone, kEmails, kText, kCsv };

struct BulkInviteInput {
  BulkSource source = BulkSource::kNone;
  // kEmails. Plan looks at no more than max_addresses + 1 elements, so a reader may stop there.
  std::vector<std::string> emails;
  std::string document;  // kText / kCsv
  Role role = Role::kUnspecified;
  std::string tenant_id;
  std::optional<absl::Duration> ttl;
  bool validate_only = false;
  bool suppress_email = false;
  std::string locale;  // BCP 47 as sent; empty: the tenant's default
};

struct BulkInviteOptions {
  TtlPolicy ttl;
  int max_addresses = 10000;  // --bulk_max_addresses
  // Addresses per database transaction: big enough for multi-row statements to pay off, small
  // enough that the first results stream quickly and a failed chunk costs little.
  int chunk_size = 500;
  // As InvitationServiceOptions::available_locales.
  std::vector<std::string> available_locales = {"en"};
};

// A validated request, with every entry's local decision (invalid, duplicate) already made.
class BulkInvitePlan {
 public:
  size_t size() const { return entries_.size(); }
  bool validate_only() const { return validate_only_; }

 private:
  friend class BulkInviter;
  struct Entry {
    BulkEntry raw;
    std::string email;                     // normalised, or empty
    std::optional<BulkOutcome> decided;    // local decision, if any
    std::string message;
  };
  std::vector<Entry> entries_;
  Caller caller_;
  Role role_ = Role::kUnspecified;
  std::string tenant_id_;
  absl::Duration ttl_;
  std::string locale_;  // resolved: the language every invitation of this call gets
  bool validate_only_ = false;
  bool suppress_email_ = false;
};

class BulkInviter {
 public:
  // `store`, `clock` and `policies` must outlive the inviter; without `policies` every tenant
  // has the defaults.
  BulkInviter(InvitationStore& store, const Clock& clock, TokenSealer sealer,
              BulkInviteOptions options, TenantPolicyStore* policies = nullptr);

  // Checks the request as a whole (server/invite_rule.h: PERMISSION_DENIED first for a caller who
  // may invite nobody, then for a role/tenant the caller may not invite) and parses its source.
  // INVALID_ARGUMENT (with field violations) for no
  // source, a bad role/tenant/ttl, an unparseable CSV (naming the line) or more addresses than
  // the configured maximum ("holds more than N addresses": parsing stops once the maximum is
  // passed, so memory stays bounded by it); nothing is decided or written then.
  absl::StatusOr<BulkInvitePlan> Plan(const Caller& caller, BulkInviteInput input) const;

  // The most addresses one call may hold (--bulk_max_addresses).
  int max_addresses() const { return options_.max_addresses; }

  // Decides the entries [begin, begin + chunk_size) in one database transaction and returns their
  // results in input order. Never fails as a whole: if the transaction fails, every address of
  // the chunk that needed the database is FAILED with the reason, and nothing of it is written.
  std::vector<BulkResult> ProcessChunk(const BulkInvitePlan& plan, size_t begin) const;

  // The same chunk's results when it cannot be processed at all (e.g. the server is overloaded):
  // local decisions stand, every other address is FAILED with `reason`.
  std::vector<BulkResult> FailChunk(const BulkInvitePlan& plan, size_t begin,
                                    absl::string_view reason) const;

  size_t ChunkEnd(const BulkInvitePlan& plan, size_t begin) const;

 private:
  InvitationStore& store_;
  const Clock& clock_;
  TokenSealer sealer_;
  BulkInviteOptions options_;
  TenantPolicyStore* policies_;
};

}  // namespace securelink::invitations

#endif  // SECURELINK_SERVER_BULK_INVITE_H_
