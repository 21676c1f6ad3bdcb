// The event feed across replicas: two real invitation_server processes on one MariaDB, the
// client library and invitectl. A subscriber that hops between replicas, resuming after the last
// event it saw, receives every event exactly once and in feed order while both replicas write;
// both replicas' expiry sweepers together record one EXPIRED per invitation.
#include <atomic>
#include <map>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "securelink/invitations/client.h"
#include "tests/client/e2e_support.h"
#include "tests/support/wait.h"

namespace securelink::testing::e2e {
namespace {

namespace client = ::securelink::invitations::client;
namespace v1 = ::securelink::invitations::v1;
using ::testing::HasSubstr;

class TwoReplicas : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    MariaDbServer& db = SharedDb();
    database_ = new std::string(UniqueName("feed"));
    if (absl::Status s = db.CreateDatabase(*database_); !s.ok()) {
      start_error_ = new std::string(s.ToString());
      return;
    }
    ServerProcess::Options options;
    options.mysql_uri = db.Uri(*database_);
    options.env = {"INVITATIONS_EVENT_POLL_INTERVAL=50ms", "INVITATIONS_TTL_MIN=1s",
                   "INVITATIONS_EXPIRY_SWEEP_INTERVAL=1s"};
    for (ServerProcess*& replica : replicas_) {
      absl::StatusOr<std::unique_ptr<ServerProcess>> server = ServerProcess::Start(options);
      if (!server.ok()) {
        start_error_ = new std::string(server.status().ToString());
        return;
      }
      replica = server->release();
    }
  }

  static void TearDownTestSuite() {
    for (ServerProcess*& replica : replicas_) {
      delete replica;
      replica = nullptr;
    }
  }

  void SetUp() override {
    ASSERT_NE(replicas_[1], nullptr) << (start_error_ != nullptr ? *start_error_ : "");
  }

  static std::unique_ptr<client::InvitationClient> ClientOf(int replica) {
    client::ClientOptions options;
    options.target = replicas_[replica]->address();
    return std::make_unique<client::InvitationClient>(options);
  }

  static std::string Sql(absl::string_view sql) {
    absl::StatusOr<std::string> out = SharedDb().Query(*database_, sql);
    EXPECT_TRUE(out.ok()) << out.status();
    return out.ok() ? std::string(absl::StripTrailingAsciiWhitespace(*out)) : "";
  }

  // Creates `count` VPN-user invitations of `tenant` through replica `replica`; their ids.
  static std::vector<std::string> CreateMany(int replica, const std::string& tenant, int count,
                                             absl::Duration ttl = absl::ZeroDuration()) {
    std::unique_ptr<client::InvitationClient> c = ClientOf(replica);
    std::vector<std::string> ids;
    for (int i = 0; i < count; ++i) {
      v1::CreateInvitationRequest req;
      req.set_email(UniqueEmail("feed"));
      req.set_role(v1::ROLE_VPN_USER);
      req.set_tenant_id(tenant);
      req.set_suppress_email(true);
      if (ttl > absl::ZeroDuration()) req.mutable_ttl()->set_seconds(absl::ToInt64Seconds(ttl));
      absl::StatusOr<v1::CreateInvitationResponse> created = c->CreateInvitation(req);
      EXPECT_TRUE(created.ok()) << created.status();
      if (created.ok()) ids.push_back(created->invitation().id());
    }
    return ids;
  }

  static inline std::string* database_ = nullptr;
  static inline std::string* start_error_ = nullptr;
  static inline ServerProcess* replicas_[2] = {nullptr, nullptr};
};

TEST_F(TwoReplicas, ASubscriberHoppingBetweenReplicasSeesEveryEventOnceWhileBothWrite) {
  const std::string tenant = UniqueName("hop");
  constexpr int kPerReplica = 100;
  std::vector<std::string> created[2];
  std::thread writers[2];
  for (int r = 0; r < 2; ++r) {
    writers[r] = std::thread([&, r] { created[r] = CreateMany(r, tenant, kPerReplica); });
  }

  // Take a handful of events, disconnect, and resume after the last one on the other replica.
  std::vector<int64_t> positions;
  std::multiset<std::string> invitations;
  std::string after = "0";
  int replica = 0;
  const absl::Time give_up = absl::Now() + absl::Seconds(120);
  while (invitations.size() < 2 * kPerReplica && absl::Now() < give_up) {
    std::unique_ptr<client::InvitationClient> c = ClientOf(replica);
    v1::WatchInvitationEventsRequest req;
    req.set_tenant_id(tenant);
    req.set_after_event_id(after);
    int taken = 0;
    absl::Status status = c->WatchInvitationEvents(req, [&](const v1::InvitationEvent& event) {
      int64_t position = 0;
      EXPECT_TRUE(absl::SimpleAtoi(event.event_id(), &position)) << event.event_id();
      positions.push_back(position);
      invitations.insert(event.invitation_id());
      after = event.event_id();
      return ++taken < 11 && invitations.size() < 2 * kPerReplica;
    });
    EXPECT_TRUE(status.ok()) << status;
    replica = 1 - replica;
  }
  for (std::thread& w : writers) w.join();

  std::set<std::string> expected(created[0].begin(), created[0].end());
  expected.insert(created[1].begin(), created[1].end());
  ASSERT_EQ(expected.size(), 2u * kPerReplica);
  EXPECT_EQ(std::set<std::string>(invitations.begin(), invitations.end()), expected);
  EXPECT_EQ(invitations.size(), expected.size()) << "an event was delivered twice";
  for (size_t i = 1; i < positions.size(); ++i) {
    ASSERT_LT(positions[i - 1], positions[i]) << "events out of feed order at " << i;
  }
}

TEST_F(TwoReplicas, BothSweepersTogetherRecordOneExpiredEventPerInvitation) {
  const std::string tenant = UniqueName("sweep");
  std::vector<std::string> ids = CreateMany(0, tenant, 20, absl::Seconds(1));
  std::vector<std::string> more = CreateMany(1, tenant, 20, absl::Seconds(1));
  ids.insert(ids.end(), more.begin(), more.end());
  const std::string in_tenant = absl::StrCat("tenant_id = '", tenant, "'");
  ASSERT_TRUE(WaitFor(
      [&] {
        return Sql(absl::StrCat("SELECT COUNT(*) FROM invitations WHERE state = 'EXPIRED' AND ",
                                in_tenant)) == "40";
      },
      absl::Seconds(60)));
  std::map<std::string, int> expired;
  std::unique_ptr<client::InvitationClient> c = ClientOf(1);
  v1::WatchInvitationEventsRequest req;
  req.set_tenant_id(tenant);
  req.set_after_event_id("0");
  req.set_replay_only(true);
  absl::Status status = c->WatchInvitationEvents(req, [&](const v1::InvitationEvent& event) {
    if (event.type() == v1::INVITATION_EVENT_TYPE_EXPIRED) {
      EXPECT_EQ(event.actor(), "system");
      ++expired[event.invitation_id()];
    }
    return true;
  });
  ASSERT_TRUE(status.ok()) << status;
  ASSERT_EQ(expired.size(), ids.size());
  for (const std::string& id : ids) EXPECT_EQ(expired[id], 1) << id;
}

TEST_F(TwoReplicas, InvitectlEventsPrintsTheTrailAndRefusesABadPosition) {
  const std::string tenant = UniqueName("ctl");
  std::vector<std::string> ids = CreateMany(1, tenant, 3);
  const std::vector<std::string> env = {
      absl::StrCat("INVITATIONS_ADDRESS=", replicas_[0]->address())};
  const ProgramResult listed =
      RunProgram(INVITECTL_PATH, {"events", "--after", "0", "--tenant", tenant}, env);
  ASSERT_EQ(listed.exit_code, 0) << listed.err;
  std::vector<std::string> lines = absl::StrSplit(listed.out, '\n', absl::SkipEmpty());
  ASSERT_EQ(lines.size(), 3u) << listed.out;
  for (size_t i = 0; i < lines.size(); ++i) {
    EXPECT_THAT(lines[i], HasSubstr("created"));
    EXPECT_THAT(lines[i], HasSubstr(ids[i]));
  }
  const ProgramResult bad = RunProgram(INVITECTL_PATH, {"events", "--after", "yesterday"}, env);
  EXPECT_EQ(bad.exit_code, 1);
  EXPECT_THAT(bad.err, HasSubstr("INVALID_ARGUMENT"));
  EXPECT_THAT(bad.err, HasSubstr("after_event_id"));
}

}  // namespace
}  // namespace securelink::testing::e2e
