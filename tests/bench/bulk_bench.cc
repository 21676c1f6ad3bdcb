// Benchmark (not a test): BulkInvite of N new addresses through the real service stack (gRPC
// over loopback, worker pool, MySQL store) against two figures from the same private MariaDB:
// the limit, N invitation-shaped rows in 500-row multi-row INSERTs into a copy of the
// invitations table (its keys, not its triggers), one transaction each; and the statements one
// BulkInvite chunk issues, straight through Connector/C++.
//
//   bulk_bench [--addresses N] [--rounds R]
// Prints one JSON object per round and a summary line.
#include <cppconn/prepared_statement.h>
#include <cppconn/resultset.h>
#include <cppconn/statement.h>
#include <mysql_connection.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "server/domain/token.h"
#include "storage/connection_pool.h"
#include "tests/support/test_server.h"

namespace st = ::securelink::testing;
namespace si = ::securelink::invitations;
namespace pb = ::securelink::invitations::v1;

namespace {

constexpr int kChunk = 500;

std::string Time(absl::Time t) { return absl::FormatTime("%Y-%m-%d %H:%M:%E6S", t, absl::UTCTimeZone()); }

// The 13 values of one invitation row in the column order both raw inserts below name.
void BindInvitationRow(sql::PreparedStatement& ins, int* p, const std::string& id,
                       const std::string& email, const std::string& tag, absl::Time now) {
  ins.setString((*p)++, id);
  ins.setString((*p)++, email);
  ins.setString((*p)++, "VPN_USER");
  ins.setString((*p)++, tag);
  ins.setString((*p)++, email);
  ins.setString((*p)++, absl::BytesToHexString(si::Sha256(id)));
  ins.setString((*p)++, std::string(60, 'x'));
  ins.setString((*p)++, Time(now));
  ins.setString((*p)++, Time(now));
  ins.setString((*p)++, Time(now + absl::Hours(168)));
  ins.setInt((*p)++, 1);
  ins.setString((*p)++, "bench");
  ins.setString((*p)++, "QUEUED");
}

// The statements one BulkInvite chunk issues (holders check, invitation, event and outbox rows),
// without the service around them.
double RawInsert(si::ConnectionPool& pool, const std::string& tag, int n) {
  const absl::Time start = absl::Now();
  for (int begin = 0; begin < n; begin += kChunk) {
    const int end = std::min(n, begin + kChunk);
    const absl::Time now = absl::Now();
    absl::Status s = si::RunTransaction(pool, "raw", [&](si::SqlSession& c) {
      std::string in;
      for (int i = begin; i < end; ++i) absl::StrAppend(&in, i > begin ? ",?" : "?");
      sql::PreparedStatement* sel(c.Prepare(
          absl::StrCat("SELECT id, email, tenant_id, expire_time FROM invitations WHERE "
                       "active_email IN (", in, ") FOR UPDATE")));
      for (int i = begin; i < end; ++i) {
        sel->setString(i - begin + 1, absl::StrCat(tag, ".", i, "@example.com"));
      }
      std::unique_ptr<sql::ResultSet> rs(sel->executeQuery());
      while (rs->next()) {
      }
      std::string values, event_values;
      for (int i = begin; i < end; ++i) {
        absl::StrAppend(&values, i > begin ? "," : "", "(?,?,?,?,'PENDING',?,?,?,?,?,?,?,?,?)");
        absl::StrAppend(&event_values, i > begin ? "," : "", "(?,?,?,?,?,?,?)");
      }
      sql::PreparedStatement* ins(c.Prepare(absl::StrCat(
          "INSERT INTO invitations (id, email, role, tenant_id, state, active_email, token_hash, "
          "sealed_token, create_time, update_time, expire_time, send_count, created_by, "
          "email_delivery_state) VALUES ", values)));
      std::string outbox_values;
      for (int i = begin; i < end; ++i) {
        absl::StrAppend(&outbox_values, i > begin ? "," : "", "(?,?,?,'PENDING',0,?,?,?)");
      }
      sql::PreparedStatement* out(c.Prepare(absl::StrCat(
          "INSERT INTO email_outbox (invitation_id, message_id, token_hash, state, attempts, "
          "next_attempt_time, create_time, update_time) VALUES ", outbox_values)));
      sql::PreparedStatement* ev(c.Prepare(absl::StrCat(
          "INSERT INTO invitation_events (invitation_id, type, actor, tenant_id, email, reason, "
          "event_time) VALUES ", event_values)));
      int p = 1, q = 1, o = 1;
      for (int i = begin; i < end; ++i) {
        const std::string id = si::NewUuid();
        const std::string email = absl::StrCat(tag, ".", i, "@example.com");
        BindInvitationRow(*ins, &p, id, email, tag, now);
        ev->setString(q++, id);
        ev->setString(q++, "CREATED");
        ev->setString(q++, "bench");
        ev->setString(q++, tag);
        ev->setString(q++, email);
        ev->setString(q++, "bulk invite");
        ev->setString(q++, Time(now));
        out->setString(o++, id);
        out->setString(o++, absl::StrCat("<", id, "@bench>"));
        out->setString(o++, absl::BytesToHexString(si::Sha256(id)));
        out->setString(o++, Time(now));
        out->setString(o++, Time(now));
        out->setString(o++, Time(now));
      }
      ins->execute();
      ev->execute();
      out->execute();
      return absl::OkStatus();
    });
    if (!s.ok()) {
      std::fprintf(stderr, "raw insert failed: %s\n", s.ToString().c_str());
      std::exit(1);
    }
  }
  return n / absl::ToDoubleSeconds(absl::Now() - start);
}

// The limit: only the invitation rows, 500 per multi-row INSERT and transaction, into
// raw_invitations (CREATE TABLE ... LIKE invitations: the same columns and keys, no triggers).
double RawRows(si::ConnectionPool& pool, const std::string& tag, int n) {
  const absl::Time start = absl::Now();
  for (int begin = 0; begin < n; begin += kChunk) {
    const int end = std::min(n, begin + kChunk);
    const absl::Time now = absl::Now();
    absl::Status s = si::RunTransaction(pool, "raw rows", [&](si::SqlSession& c) {
      std::string values;
      for (int i = begin; i < end; ++i) {
        absl::StrAppend(&values, i > begin ? "," : "", "(?,?,?,?,'PENDING',?,?,?,?,?,?,?,?,?)");
      }
      sql::PreparedStatement* ins(c.Prepare(absl::StrCat(
          "INSERT INTO raw_invitations (id, email, role, tenant_id, state, active_email, "
          "token_hash, sealed_token, create_time, update_time, expire_time, send_count, "
          "created_by, email_delivery_state) VALUES ", values)));
      int p = 1;
      for (int i = begin; i < end; ++i) {
        const std::string id = si::NewUuid();
        const std::string email = absl::StrCat(tag, ".", i, "@example.com");
        BindInvitationRow(*ins, &p, id, email, tag, now);
      }
      ins->execute();
      return absl::OkStatus();
    });
    if (!s.ok()) {
      std::fprintf(stderr, "raw rows failed: %s\n", s.ToString().c_str());
      std::exit(1);
    }
  }
  return n / absl::ToDoubleSeconds(absl::Now() - start);
}

double ServiceBulk(st::TestServer& server, const std::string& tag, int n) {
  std::string text;
  for (int i = 0; i < n; ++i) absl::StrAppend(&text, tag, ".", i, "@example.com\n");
  pb::BulkInviteRequest req;
  req.set_text(text);
  req.set_role(pb::ROLE_VPN_USER);
  req.set_tenant_id(tag);
  const absl::Time start = absl::Now();
  auto ctx = st::Context(absl::Minutes(10));
  auto reader = server.stub().BulkInvite(ctx.get(), req);
  pb::BulkInviteResponse resp;
  int created = 0;
  while (reader->Read(&resp)) {
    if (resp.has_summary()) created = resp.summary().created();
  }
  grpc::Status status = reader->Finish();
  const double rate = n / absl::ToDoubleSeconds(absl::Now() - start);
  if (!status.ok() || created != n) {
    std::fprintf(stderr, "bulk failed: %s (created %d of %d)\n", status.error_message().c_str(),
                 created, n);
    std::exit(1);
  }
  return rate;
}

}  // namespace

int main(int argc, char** argv) {
  int addresses = 10000, rounds = 3;
  for (int i = 1; i + 1 < argc; i += 2) {
    if (!std::strcmp(argv[i], "--addresses")) addresses = std::atoi(argv[i + 1]);
    if (!std::strcmp(argv[i], "--rounds")) rounds = std::atoi(argv[i + 1]);
  }
  st::MariaDbServer& db = st::SharedMariaDb();
  st::TestServerOptions options;
  options.bulk_max_addresses = addresses;
  // The production feed settings, not the tests' fast polling: the sequencer's work during a
  // bulk is part of what the service costs, at the rate it runs when deployed.
  options.event_feed = si::EventFeedOptions();
  absl::StatusOr<std::unique_ptr<st::TestServer>> server = st::TestServer::Start(db, options);
  if (!server.ok()) {
    std::fprintf(stderr, "%s\n", server.status().ToString().c_str());
    return 1;
  }
  absl::StatusOr<si::MysqlEndpoint> endpoint = si::ParseMysqlUri(db.Uri((*server)->database()));
  si::ConnectionPool raw_pool(*endpoint, {});
  absl::Status made = si::RunReadOnly(raw_pool, "raw table", [](si::SqlSession& c) {
    std::unique_ptr<sql::Statement> s(c.connection().createStatement());
    s->execute("CREATE TABLE IF NOT EXISTS raw_invitations LIKE invitations");
    return absl::OkStatus();
  });
  if (!made.ok()) {
    std::fprintf(stderr, "%s\n", made.ToString().c_str());
    return 1;
  }
  // Warm-up: one small round of each so connections and buffer pool pages exist.
  RawRows(raw_pool, "warm-rows", 1000);
  RawInsert(raw_pool, "warm-raw", 1000);
  ServiceBulk(**server, "warm-svc", 1000);
  double best_rows = 0, best_raw = 0, best_svc = 0;
  for (int r = 0; r < rounds; ++r) {
    // Rotate the order so no side always runs on a warmer database.
    double rows = 0, raw = 0, svc = 0;
    for (int k = 0; k < 3; ++k) {
      switch ((r + k) % 3) {
        case 0: rows = RawRows(raw_pool, absl::StrCat("rows", r), addresses); break;
        case 1: raw = RawInsert(raw_pool, absl::StrCat("raw", r), addresses); break;
        case 2: svc = ServiceBulk(**server, absl::StrCat("svc", r), addresses); break;
      }
    }
    best_rows = std::max(best_rows, rows);
    best_raw = std::max(best_raw, raw);
    best_svc = std::max(best_svc, svc);
    std::printf("{\"round\":%d,\"addresses\":%d,\"service_per_s\":%.0f,\"rows_per_s\":%.0f,"
                "\"raw_per_s\":%.0f,\"ratio\":%.2f}\n",
                r, addresses, svc, rows, raw, svc / rows);
  }
  std::printf("best: service %.0f addresses/s; limit: multi-row INSERTs %.0f rows/s (ratio %.2f, "
              "goal >= 0.5); a chunk's statements straight %.0f rows/s\n",
              best_svc, best_rows, best_svc / best_rows, best_raw);
  return 0;
}
