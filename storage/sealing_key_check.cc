#include "storage/sealing_key_check.h"

#include <unistd.h>

#include <cppconn/prepared_statement.h>
#include <cppconn/resultset.h>

#include <optional>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "server/util/status_macros.h"
#include "storage/mysql_rows.h"

namespace securelink::invitations {
namespace {

using mysql::Rows;
using mysql::SqlTime;
using mysql::Statement;

// Enough recent links to tell "sealed with another key" from a stray row, in one cheap read
// (ix_invitations_state_expire, newest expiry first).
constexpr int kLiveLinkSample = 8;

constexpr char kSetting[] = "--token_sealing_key_file (INVITATIONS_TOKEN_SEALING_KEY_FILE)";
constexpr char kSameKey[] = "every replica of one database must use the same key";
constexpr char kRotation[] =
    "to change the key on purpose, follow the key rotation steps in the README";

struct RecordedKey {
  std::string fingerprint;
  std::string recorded_by;
  absl::Time create_time;
};

std::string ThisReplica() {
  char host[256] = {0};
  gethostname(host, sizeof(host) - 1);
  return absl::StrCat(host, ":", getpid());
}

std::string Describe(const RecordedKey& key) {
  return absl::StrCat("recorded by ", key.recorded_by, " at ",
                      absl::FormatTime(absl::RFC3339_sec, key.create_time, absl::UTCTimeZone()));
}

absl::StatusOr<std::optional<RecordedKey>> ReadRecordedKey(ConnectionPool& pool) {
  std::optional<RecordedKey> recorded;
  RETURN_IF_ERROR(RunReadOnly(pool, "reading the recorded token sealing key", [&](SqlSession& c) {
    recorded.reset();
    Statement s(c.Prepare(
        "SELECT fingerprint, recorded_by, create_time FROM token_sealing_key WHERE id = 1"));
    Rows rs(s->executeQuery());
    if (rs->next()) {
      recorded = RecordedKey{rs->getString("fingerprint"), rs->getString("recorded_by"),
                             mysql::ParseSqlTime(rs->getString("create_time"))};
    }
    return absl::OkStatus();
  }));
  return recorded;
}

// The sealed copies (raw bytes) of the newest live links.
absl::StatusOr<std::vector<std::string>> SampleLiveSealedTokens(ConnectionPool& pool,
                                                                absl::Time now) {
  std::vector<std::string> sealed;
  RETURN_IF_ERROR(RunReadOnly(pool, "sampling live sealed links", [&](SqlSession& c) {
    sealed.clear();
    Statement s(c.Prepare(
        "SELECT sealed_token FROM invitations WHERE state = 'PENDING' AND expire_time > ? "
        "AND sealed_token IS NOT NULL ORDER BY expire_time DESC LIMIT ?"));
    s->setString(1, SqlTime(now));
    s->setInt(2, kLiveLinkSample);
    Rows rs(s->executeQuery());
    while (rs->next()) {
      // Undecodable text is as unopenable as a copy sealed under another key.
      absl::StatusOr<std::string> raw = Base64UrlDecode(std::string(rs->getString(1)));
      sealed.push_back(raw.ok() ? *raw : "");
    }
    return absl::OkStatus();
  }));
  return sealed;
}

absl::Status RecordKey(ConnectionPool& pool, const std::string& fingerprint, absl::Time now) {
  return RunTransaction(pool, "recording the token sealing key", [&](SqlSession& c) {
    // A replica that recorded first wins; this one is then compared with it by the caller.
    Statement s(c.Prepare(
        "INSERT INTO token_sealing_key (id, fingerprint, recorded_by, create_time) "
        "VALUES (1, ?, ?, ?) ON DUPLICATE KEY UPDATE id = id"));
    s->setString(1, fingerprint);
    s->setString(2, ThisReplica());
    s->setString(3, SqlTime(now));
    s->execute();
    return absl::OkStatus();
  });
}

absl::Status RefuseAgainstRecorded(const TokenSealer& sealer, const RecordedKey& recorded) {
  if (sealer.ephemeral()) {
    return absl::FailedPreconditionError(absl::StrCat(
        "no ", kSetting, " is set, but this database's registration links are sealed with a "
        "configured key (", Describe(recorded), "); ", kSameKey,
        ": start this replica with the same key file as the others"));
  }
  return absl::FailedPreconditionError(absl::StrCat(
      "the key in ", kSetting, " is not the key this database's registration links are sealed "
      "with (", Describe(recorded), "); ", kSameKey,
      ": give this replica the same key file as the others (", kRotation, ")"));
}

}  // namespace

absl::StatusOr<SealingKeyCheck> CheckTokenSealingKey(ConnectionPool& pool,
                                                     const TokenSealer& sealer, absl::Time now) {
  SealingKeyCheck check;
  const std::string fingerprint = sealer.KeyFingerprint();
  ASSIGN_OR_RETURN(std::optional<RecordedKey> recorded, ReadRecordedKey(pool));
  if (recorded.has_value()) {
    if (sealer.ephemeral() || recorded->fingerprint != fingerprint) {
      return RefuseAgainstRecorded(sealer, *recorded);
    }
    check.matched_recorded_key = true;
    return check;
  }

  ASSIGN_OR_RETURN(std::vector<std::string> sample, SampleLiveSealedTokens(pool, now));
  check.live_links_sampled = static_cast<int>(sample.size());
  for (const std::string& sealed : sample) check.live_links_opened += sealer.Open(sealed).ok();
  if (check.live_links_sampled > 0 && check.live_links_opened == 0) {
    if (sealer.ephemeral()) {
      return absl::FailedPreconditionError(absl::StrCat(
          "no ", kSetting, " is set, and this database has live registration links sealed "
          "with another key, which a key of this process's own cannot open; ", kSameKey,
          ": start this replica with the key file they were sealed with (a replica without a "
          "key file is only for a database of its own; if its key is lost, ", kRotation, ")"));
    }
    return absl::FailedPreconditionError(absl::StrCat(
        "none of the ", check.live_links_sampled, " newest live registration links in this "
        "database opens with the key in ", kSetting, ": they were sealed with another key, and ",
        kSameKey, "; start this replica with the key file they were sealed with (", kRotation,
        ")"));
  }
  if (sealer.ephemeral()) return check;

  RETURN_IF_ERROR(RecordKey(pool, fingerprint, now));
  ASSIGN_OR_RETURN(recorded, ReadRecordedKey(pool));
  if (!recorded.has_value()) {
    return absl::UnavailableError("the recorded token sealing key vanished while starting");
  }
  // Another replica starting at the same moment with another key may have recorded first.
  if (recorded->fingerprint != fingerprint) return RefuseAgainstRecorded(sealer, *recorded);
  check.recorded_now = true;
  return check;
}

}  // namespace securelink::invitations
