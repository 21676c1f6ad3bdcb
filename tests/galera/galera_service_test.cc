// The service's promises on a three-node MariaDB Galera cluster (SPEC §8), each replica a real
// invitation_server process whose --mysql_uri lists every node, its own first: migrations when
// replicas start together on different nodes, one invitation and one email per address when
// callers race through all nodes, read-your-writes across nodes, bulk invites racing on two
// nodes, and a node killed under load.
#include <grpcpp/grpcpp.h>
#include <unistd.h>

#include <atomic>
#include <map>
#include <set>
#include <thread>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "securelink/invitations/v1/invitation_service.grpc.pb.h"
#include "tests/client/e2e_support.h"
#include "tests/mail/mail_test_support.h"
#include "tests/support/galera_cluster.h"
#include "tests/support/status_matchers.h"
#include "tests/support/wait.h"

namespace securelink::testing {
namespace {

namespace pb = ::securelink::invitations::v1;

GaleraCluster* cluster = nullptr;

// One cluster for the whole binary: starting three nodes costs seconds.
class ClusterEnvironment : public ::testing::Environment {
 public:
  void SetUp() override {
    absl::StatusOr<std::unique_ptr<GaleraCluster>> started = GaleraCluster::Start(3);
    ASSERT_TRUE(started.ok()) << started.status();
    owned_ = *std::move(started);
    cluster = owned_.get();
  }
  void TearDown() override {
    cluster = nullptr;
    owned_.reset();
  }

 private:
  std::unique_ptr<GaleraCluster> owned_;
};

// A single number from `sql` on node `node`, or -1.
int64_t Count(int node, const std::string& database, const std::string& sql) {
  absl::StatusOr<std::string> out = cluster->Query(node, database, sql);
  int64_t n = -1;
  if (!out.ok() || !absl::SimpleAtoi(absl::StripAsciiWhitespace(*out), &n)) return -1;
  return n;
}

std::unique_ptr<pb::InvitationService::Stub> StubFor(const e2e::ServerProcess& server) {
  return pb::InvitationService::NewStub(
      grpc::CreateChannel(server.address(), grpc::InsecureChannelCredentials()));
}

std::unique_ptr<grpc::ClientContext> Context(absl::Duration deadline = absl::Seconds(30)) {
  auto context = std::make_unique<grpc::ClientContext>();
  context->set_deadline(std::chrono::system_clock::now() + absl::ToChronoSeconds(deadline));
  return context;
}

// Options for replica i of three on `database`: every node in its URI, node i first; one sealing
// key for all, as a deployment has.
std::vector<e2e::ServerProcess::Options> ReplicasOn(const std::string& database,
                                                    std::vector<std::string> env = {}) {
  env.push_back(absl::StrCat("INVITATIONS_TOKEN_SEALING_KEY_FILE=",
                             e2e::WriteTempFile("sealing.key",
                                                "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=")));
  env.push_back("INVITATIONS_AUTH=disabled");
  std::vector<e2e::ServerProcess::Options> replicas;
  for (int i = 0; i < cluster->size(); ++i) {
    e2e::ServerProcess::Options options;
    options.mysql_uri = cluster->UriAll(database, i);
    options.env = env;
    options.start_timeout = absl::Minutes(2);
    replicas.push_back(std::move(options));
  }
  return replicas;
}

std::string NewDatabase(absl::string_view prefix) {
  const std::string name = e2e::UniqueName(prefix);
  EXPECT_THAT(cluster->CreateDatabase(name), IsOk());
  return name;
}

pb::CreateInvitationRequest CreateOf(const std::string& email) {
  pb::CreateInvitationRequest request;
  request.set_email(email);
  request.set_role(pb::ROLE_VPN_USER);
  request.set_tenant_id("galera");
  return request;
}

// Replicas started at the same moment against different nodes of an empty database all serve,
// and each migration ran once.
TEST(Galera, ReplicasStartedTogetherOnDifferentNodesAllServeAndMigrateOnce) {
  const std::string database = NewDatabase("g_start");
  auto replicas = e2e::ServerProcess::StartTogether(ReplicasOn(database));
  ASSERT_TRUE(replicas.ok()) << replicas.status();
  for (int node = 0; node < cluster->size(); ++node) {
    absl::StatusOr<std::string> rows = cluster->Query(
        node, database, "SELECT COUNT(*) = COUNT(DISTINCT version), COUNT(*) FROM schema_migrations");
    ASSERT_TRUE(rows.ok()) << rows.status();
    EXPECT_THAT(*rows, ::testing::StartsWith("1\t")) << "a migration recorded twice: " << *rows;
  }
  for (auto& replica : *replicas) {
    pb::CreateInvitationResponse response;
    EXPECT_THAT(StubFor(*replica)->CreateInvitation(Context().get(),
                                                    CreateOf(e2e::UniqueEmail("start")), &response),
                IsOk());
  }
  for (auto& replica : *replicas) EXPECT_EQ(replica->Terminate(), 0);
}

// 30 callers create the same 60 addresses through three replicas on three nodes: each address
// gets one invitation and one email, and every call is OK or ALREADY_EXISTS (certification
// conflicts are retried inside the service, never shown).
TEST(Galera, RacingCreatesThroughEveryNodeMakeOneInvitationAndOneEmailPerAddress) {
  auto sink = SmtpSink::Start();
  ASSERT_TRUE(sink.ok()) << sink.status();
  const std::string database = NewDatabase("g_race");
  auto replicas = e2e::ServerProcess::StartTogether(
      ReplicasOn(database, {absl::StrCat("INVITATIONS_SMTP_URL=", (*sink)->url())}));
  ASSERT_TRUE(replicas.ok()) << replicas.status();
  std::vector<std::unique_ptr<pb::InvitationService::Stub>> stubs;
  for (auto& replica : *replicas) stubs.push_back(StubFor(*replica));

  constexpr int kEmails = 60, kCallers = 30;
  std::vector<std::string> emails;
  for (int i = 0; i < kEmails; ++i) emails.push_back(e2e::UniqueEmail("race"));
  std::atomic<int> created{0};
  absl::Mutex mu;
  std::map<std::string, int> other_outcomes;
  std::vector<std::thread> callers;
  for (int c = 0; c < kCallers; ++c) {
    callers.emplace_back([&, c] {
      for (int k = 0; k < kEmails; ++k) {
        const int i = (k * 7 + c * 11) % kEmails;
        pb::CreateInvitationResponse response;
        grpc::Status s = stubs[(c + k) % stubs.size()]->CreateInvitation(
            Context().get(), CreateOf(emails[i]), &response);
        if (s.ok()) {
          ++created;
        } else if (s.error_code() != grpc::StatusCode::ALREADY_EXISTS) {
          absl::MutexLock lock(&mu);
          ++other_outcomes[absl::StrCat(s.error_code(), ": ", s.error_message())];
        }
      }
    });
  }
  for (std::thread& t : callers) t.join();
  EXPECT_EQ(created.load(), kEmails);
  EXPECT_THAT(other_outcomes, ::testing::IsEmpty());
  for (int node = 0; node < cluster->size(); ++node) {
    EXPECT_EQ(Count(node, database, "SELECT COUNT(*) FROM invitations"), kEmails) << node;
  }

  ASSERT_THAT((*sink)->WaitForMessages(kEmails, absl::Seconds(120)), IsOk());
  ASSERT_TRUE(WaitFor(
      [&] {
        return Count(0, database, "SELECT COUNT(*) FROM email_outbox WHERE state = 'SENT'") ==
               kEmails;
      },
      absl::Seconds(60)));
  for (auto& replica : *replicas) EXPECT_EQ(replica->Terminate(), 0);
  // Every replica has stopped: nothing can still be sending.
  const std::vector<std::string> messages = (*sink)->Messages();
  EXPECT_EQ(messages.size(), static_cast<size_t>(kEmails));
  for (const std::string& email : emails) {
    int copies = 0;
    for (const std::string& m : messages) copies += m.find(email) != std::string::npos;
    EXPECT_EQ(copies, 1) << email;
  }
}

// A Get through one node right after a Create through another finds the invitation.
TEST(Galera, AnInvitationCreatedThroughOneNodeIsReadAtOnceThroughTheOthers) {
  const std::string database = NewDatabase("g_ryw");
  auto replicas = e2e::ServerProcess::StartTogether(ReplicasOn(database));
  ASSERT_TRUE(replicas.ok()) << replicas.status();
  std::vector<std::unique_ptr<pb::InvitationService::Stub>> stubs;
  for (auto& replica : *replicas) stubs.push_back(StubFor(*replica));
  for (int round = 0; round < 60; ++round) {
    pb::CreateInvitationResponse created;
    ASSERT_THAT(stubs[round % 3]->CreateInvitation(
                    Context().get(), CreateOf(e2e::UniqueEmail("ryw")), &created),
                IsOk());
    for (int other = 1; other < 3; ++other) {
      pb::GetInvitationRequest get;
      get.set_id(created.invitation().id());
      pb::GetInvitationResponse read;
      ASSERT_THAT(stubs[(round + other) % 3]->GetInvitation(Context().get(), get, &read), IsOk())
          << "round " << round;
      EXPECT_EQ(read.invitation().id(), created.invitation().id());
    }
  }
  for (auto& replica : *replicas) EXPECT_EQ(replica->Terminate(), 0);
}

// Two BulkInvites of the same 2,000 addresses started at once through two nodes invite each
// address once between them.
TEST(Galera, TwoBulkInvitesOfTheSameAddressesOnTwoNodesInviteEachOnce) {
  const std::string database = NewDatabase("g_bulk");
  auto replicas = e2e::ServerProcess::StartTogether(ReplicasOn(database));
  ASSERT_TRUE(replicas.ok()) << replicas.status();
  constexpr int kAddresses = 2000;
  pb::BulkInviteRequest request;
  std::string text;
  for (int i = 0; i < kAddresses; ++i) absl::StrAppend(&text, "bulk.", i, "@example.com\n");
  request.set_text(text);
  request.set_role(pb::ROLE_VPN_USER);
  request.set_tenant_id("galera-bulk");

  pb::BulkInviteSummary summaries[2];
  grpc::Status finished[2];
  absl::Notification go;
  std::vector<std::thread> callers;
  for (int b = 0; b < 2; ++b) {
    callers.emplace_back([&, b] {
      auto stub = StubFor(*(*replicas)[b]);
      auto context = Context(absl::Minutes(5));
      go.WaitForNotification();
      auto reader = stub->BulkInvite(context.get(), request);
      pb::BulkInviteResponse response;
      while (reader->Read(&response)) {
        if (response.has_summary()) summaries[b] = response.summary();
      }
      finished[b] = reader->Finish();
    });
  }
  go.Notify();
  for (std::thread& t : callers) t.join();
  for (int b = 0; b < 2; ++b) {
    ASSERT_THAT(finished[b], IsOk()) << b;
    EXPECT_EQ(summaries[b].total(), kAddresses) << b;
    EXPECT_EQ(summaries[b].failed(), 0) << b;
  }
  EXPECT_EQ(summaries[0].created() + summaries[1].created(), kAddresses);
  for (int node = 0; node < cluster->size(); ++node) {
    EXPECT_EQ(Count(node, database,
                    "SELECT COUNT(*) FROM invitations WHERE tenant_id = 'galera-bulk'"),
              kAddresses)
        << node;
    EXPECT_EQ(Count(node, database, "SELECT COUNT(*) FROM email_outbox"), kAddresses) << node;
  }
  for (auto& replica : *replicas) EXPECT_EQ(replica->Terminate(), 0);
}

// A node SIGKILLed for ten seconds under load and started again: while it is gone callers see
// only UNAVAILABLE or DEADLINE_EXCEEDED (its replica moves to a live node), every acknowledged
// invitation is readable afterwards through every replica, and the node rejoins. Runs last: it
// takes a node down.
TEST(GaleraZ, ANodeKilledUnderLoadLosesNoAcknowledgedWrite) {
  const std::string database = NewDatabase("g_kill");
  auto replicas = e2e::ServerProcess::StartTogether(ReplicasOn(database));
  ASSERT_TRUE(replicas.ok()) << replicas.status();
  std::vector<std::unique_ptr<pb::InvitationService::Stub>> stubs;
  for (auto& replica : *replicas) stubs.push_back(StubFor(*replica));

  std::atomic<bool> stop{false};
  absl::Mutex mu;
  std::vector<std::string> acknowledged;
  std::map<std::string, int> other_outcomes;
  std::atomic<int> during_outage{0};
  std::atomic<bool> node_down{false};
  std::vector<std::thread> writers;
  for (int w = 0; w < 3; ++w) {
    writers.emplace_back([&, w] {
      while (!stop.load()) {
        pb::CreateInvitationResponse response;
        grpc::Status s = stubs[w]->CreateInvitation(
            Context(absl::Seconds(10)).get(), CreateOf(e2e::UniqueEmail("kill")), &response);
        absl::MutexLock lock(&mu);
        if (s.ok()) {
          acknowledged.push_back(response.invitation().id());
          if (node_down.load()) ++during_outage;
        } else if (s.error_code() != grpc::StatusCode::UNAVAILABLE &&
                   s.error_code() != grpc::StatusCode::DEADLINE_EXCEEDED) {
          ++other_outcomes[absl::StrCat(s.error_code(), ": ", s.error_message())];
        }
      }
    });
  }
  auto acknowledged_count = [&] {
    absl::MutexLock lock(&mu);
    return acknowledged.size();
  };
  ASSERT_TRUE(WaitFor([&] { return acknowledged_count() >= 30; }, absl::Seconds(60)));
  ASSERT_THAT(cluster->Kill(0), IsOk());
  node_down = true;
  // Ten seconds down, as an outage would last; the writers keep going meanwhile.
  const size_t before = acknowledged_count();
  absl::SleepFor(absl::Seconds(10));
  EXPECT_GT(acknowledged_count(), before) << "nothing was written while node 0 was down";
  ASSERT_THAT(cluster->StartAgain(0), IsOk());
  node_down = false;
  const size_t after_restart = acknowledged_count();
  ASSERT_TRUE(WaitFor([&] { return acknowledged_count() >= after_restart + 30; },
                      absl::Seconds(60)));
  stop = true;
  for (std::thread& t : writers) t.join();

  EXPECT_THAT(other_outcomes, ::testing::IsEmpty());
  EXPECT_GT(during_outage.load(), 0);
  // Through every replica, node 0's included, every acknowledged invitation is there.
  for (auto& stub : stubs) {
    for (const std::string& id : acknowledged) {
      pb::GetInvitationRequest get;
      get.set_id(id);
      pb::GetInvitationResponse read;
      ASSERT_THAT(stub->GetInvitation(Context().get(), get, &read), IsOk()) << id;
    }
  }
  // A write whose answer was lost to the outage may exist without being acknowledged.
  for (int node = 0; node < cluster->size(); ++node) {
    EXPECT_GE(Count(node, database, "SELECT COUNT(*) FROM invitations"),
              static_cast<int64_t>(acknowledged.size()))
        << node;
  }
  for (auto& replica : *replicas) EXPECT_EQ(replica->Terminate(), 0);
}

}  // namespace
}  // namespace securelink::testing

int main(int argc, char** argv) {
  ::testing::InitGoogleTest(&argc, argv);
  ::testing::AddGlobalTestEnvironment(new securelink::testing::ClusterEnvironment);
  return RUN_ALL_TESTS();
}
