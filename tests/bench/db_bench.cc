// Benchmark (not a test): the database half of CreateInvitation and GetInvitation with nothing of
// the service around it. N threads call MysqlInvitationStore::Insert / ::Get, i.e. exactly the
// transactions the service issues, through a connection pool of N connections, for a duration.
// deploy/bench.sh divides the service's figures by these.
//
//   db_bench --mysql_uri=URI --mode=create|select|raw_insert --concurrency=N [--duration=10s]
//            [--warmup=2s] [--email] [--json_out=FILE]
// --email queues an outbox row per create, as a CreateInvitation without suppress_email does.
// select reads invitations that exist (it creates 1,000 first if the database has fewer).
// raw_insert is the limit a Create is measured against: one INSERT of an invitation-shaped row
// per transaction (autocommit) into raw_invitations, a copy of the invitations table with its
// keys and without its triggers, i.e. what the database does for the row and nothing more.
#include <atomic>
#include <cstdio>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

#include <cppconn/prepared_statement.h>
#include <cppconn/statement.h>
#include <mysql_connection.h>

#include "absl/random/random.h"
#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "absl/time/clock.h"
#include "latency_stats.h"
#include "server/domain/token.h"
#include "storage/connection_pool.h"
#include "storage/mysql_invitation_store.h"
#include "storage/mysql_uri.h"

namespace si = ::securelink::invitations;
namespace load = ::securelink::invitations::load;

namespace {

struct Flags {
  std::string mysql_uri;
  std::string mode = "create";
  int concurrency = 1;
  absl::Duration duration = absl::Seconds(10);
  absl::Duration warmup = absl::Seconds(2);
  bool email = false;
  std::string json_out;
};

[[noreturn]] void Die(const std::string& message) {
  std::fprintf(stderr, "db_bench: %s\n", message.c_str());
  std::exit(2);
}

Flags ParseFlags(int argc, char** argv) {
  Flags f;
  for (int i = 1; i < argc; ++i) {
    absl::string_view a = argv[i];
    auto value = [&](absl::string_view name, std::string* out) {
      return absl::ConsumePrefix(&a, absl::StrCat("--", name, "=")) && (*out = std::string(a), true);
    };
    std::string v;
    if (value("mysql_uri", &f.mysql_uri) || value("mode", &f.mode) ||
        value("json_out", &f.json_out)) continue;
    if (a == "--email") { f.email = true; continue; }
    if (value("concurrency", &v)) {
      if (!absl::SimpleAtoi(v, &f.concurrency) || f.concurrency < 1) Die("bad --concurrency");
    } else if (value("duration", &v)) {
      if (!absl::ParseDuration(v, &f.duration)) Die("bad --duration");
    } else if (value("warmup", &v)) {
      if (!absl::ParseDuration(v, &f.warmup)) Die("bad --warmup");
    } else {
      Die(absl::StrCat("unknown argument ", a));
    }
  }
  if (f.mysql_uri.empty() ||
      (f.mode != "create" && f.mode != "select" && f.mode != "raw_insert")) {
    Die("usage: db_bench --mysql_uri=URI --mode=create|select|raw_insert --concurrency=N ...");
  }
  return f;
}

// A row as InvitationService::Create builds it (same sizes: token hash, sealed token).
si::NewInvitation NewRow(const std::string& email, bool queue_email) {
  const absl::Time now = absl::Now();
  si::NewInvitation row;
  si::Invitation& inv = row.invitation;
  inv.id = si::NewUuid();
  inv.email = email;
  inv.role = si::Role::kVpnUser;
  inv.tenant_id = "load";
  inv.state = si::InvitationState::kPending;
  inv.create_time = inv.update_time = now;
  inv.expire_time = now + absl::Hours(168);
  inv.send_count = queue_email ? 1 : 0;
  inv.email_delivery_state =
      queue_email ? si::EmailDeliveryState::kQueued : si::EmailDeliveryState::kSuppressed;
  inv.created_by = "bench";
  inv.request_id = si::NewUuid();  // the client library always sends one
  const std::string token = si::NewRegistrationToken();
  row.token_hash = si::HashRegistrationToken(token);
  row.sealed_token = std::string(60, 's');
  row.event = si::AuditEvent{si::AuditEventType::kCreated, "bench", ""};
  if (queue_email) row.email_message_id = absl::StrCat("<", inv.id, "@bench>");
  return row;
}

std::string SqlTime(absl::Time t) {
  return absl::FormatTime("%Y-%m-%d %H:%M:%E6S", t, absl::UTCTimeZone());
}

// One invitation-shaped row (the columns and sizes a Create writes) as its own transaction.
absl::Status RawInsert(si::ConnectionPool& pool, const si::NewInvitation& row) {
  // Autocommit: the INSERT is the whole transaction, with no BEGIN or COMMIT round trip.
  return si::RunReadOnly(pool, "raw insert", [&](si::SqlSession& c) {
    const si::Invitation& inv = row.invitation;
    sql::PreparedStatement* s = c.Prepare(
        "INSERT INTO raw_invitations (id, email, role, tenant_id, state, active_email, token_hash, "
        "sealed_token, request_id, create_time, update_time, expire_time, send_count, created_by, "
        "email_delivery_state, locale) "
        "VALUES (?, ?, 'VPN_USER', ?, 'PENDING', ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 'en')");
    s->setString(1, inv.id);
    s->setString(2, inv.email);
    s->setString(3, inv.tenant_id);
    s->setString(4, inv.email);
    s->setString(5, absl::BytesToHexString(row.token_hash));
    s->setString(6, row.sealed_token);
    s->setString(7, inv.request_id);
    s->setString(8, SqlTime(inv.create_time));
    s->setString(9, SqlTime(inv.update_time));
    s->setString(10, SqlTime(inv.expire_time));
    s->setInt(11, inv.send_count);
    s->setString(12, inv.created_by);
    s->setString(13, "SUPPRESSED");
    s->execute();
    return absl::OkStatus();
  });
}

}  // namespace

int main(int argc, char** argv) {
  const Flags flags = ParseFlags(argc, argv);
  absl::StatusOr<si::MysqlEndpoint> endpoint = si::ParseMysqlUri(flags.mysql_uri);
  if (!endpoint.ok()) Die(endpoint.status().ToString());
  si::ConnectionPoolOptions pool_options;
  pool_options.max_connections = flags.concurrency;
  si::ConnectionPool pool(*endpoint, pool_options);
  si::MysqlInvitationStore store(pool);
  const std::string run = si::NewUuid().substr(0, 8);

  if (flags.mode == "raw_insert") {
    absl::Status made = si::RunReadOnly(pool, "raw table", [](si::SqlSession& c) {
      std::unique_ptr<sql::Statement> s(c.connection().createStatement());
      s->execute("CREATE TABLE IF NOT EXISTS raw_invitations LIKE invitations");
      return absl::OkStatus();
    });
    if (!made.ok()) Die(made.ToString());
  }
  std::vector<std::string> ids;
  if (flags.mode == "select") {
    for (int i = 0; i < 1000; ++i) {
      absl::StatusOr<si::InsertResult> r =
          store.Insert(NewRow(absl::StrCat("sel-", run, "-", i, "@bench.example"), false),
                       absl::Now());
      if (!r.ok()) Die(r.status().ToString());
      ids.push_back(r->invitation.id);
    }
  }

  // Runs every thread until `end`; records into per-thread recorders when `recorders` is set.
  std::atomic<int64_t> serial{0};
  auto drive = [&](absl::Time end, std::vector<load::LatencyRecorder>* recorders) {
    std::vector<std::thread> threads;
    for (int t = 0; t < flags.concurrency; ++t) {
      threads.emplace_back([&, t] {
        absl::BitGen rng;
        while (absl::Now() < end) {
          const absl::Time start = absl::Now();
          absl::Status status;
          if (flags.mode == "create") {
            status = store.Insert(NewRow(absl::StrCat("db-", run, "-", serial.fetch_add(1),
                                                      "@bench.example"), flags.email),
                                  start).status();
          } else if (flags.mode == "raw_insert") {
            status = RawInsert(pool, NewRow(absl::StrCat("raw-", run, "-", serial.fetch_add(1),
                                                         "@bench.example"), false));
          } else {
            status = store.Get(ids[absl::Uniform<size_t>(rng, 0, ids.size())]).status();
          }
          if (recorders != nullptr) (*recorders)[t].Record(status.code(), absl::Now() - start);
        }
      });
    }
    for (std::thread& th : threads) th.join();
  };
  if (flags.warmup > absl::ZeroDuration()) drive(absl::Now() + flags.warmup, nullptr);
  std::vector<load::LatencyRecorder> recorders(flags.concurrency);
  const absl::Time start = absl::Now();
  drive(start + flags.duration, &recorders);
  const absl::Duration elapsed = absl::Now() - start;
  load::LatencyRecorder all;
  for (const load::LatencyRecorder& r : recorders) all.Merge(r);
  load::LoadReport report{"db:" + flags.mode, flags.concurrency, 0, elapsed,
                          {{"all", load::Summarize(all, elapsed)}}};
  std::printf("%s", load::FormatText(report).c_str());
  if (!flags.json_out.empty()) std::ofstream(flags.json_out) << load::FormatJson(report);
  return all.ok() > 0 ? 0 : 1;
}
