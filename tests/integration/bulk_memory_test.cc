// SPEC §10 "Before authentication nothing is big", measured on a real invitation_server process:
// 4 MiB BulkInvite lists of empty strings, sent concurrently by a caller without a token, by a
// VPN user, and once by a SuperAdmin over a small --bulk_max_addresses, are refused with the
// right code while the server's peak resident memory (VmHWM) grows by a bounded amount.
#include <fcntl.h>
#include <grpcpp/generic/generic_stub.h>
#include <grpcpp/grpcpp.h>
#include <limits.h>
#include <unistd.h>

#include <cstdint>
#include <filesystem>
#include <iostream>
#include <fstream>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "absl/synchronization/notification.h"
#include "absl/time/clock.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "securelink/invitations/v1/invitation_service.pb.h"
#include "tests/auth/jwt_test_keys.h"
#include "tests/client/e2e_support.h"
#include "tests/support/test_server.h"

namespace securelink::testing {
namespace {

namespace pb = ::securelink::invitations::v1;
using ::testing::HasSubstr;

constexpr char kBulkInviteMethod[] = "/securelink.invitations.v1.InvitationService/BulkInvite";
constexpr int kConcurrentCalls = 8;
constexpr int kMaxAddresses = 100;
// The bound on the server's peak growth. gRPC itself buffers each incoming message whole before
// any handler runs (8 x 4 MiB here, plus its transport buffers); everything the service adds on
// top must stay small. Today's code, which parsed and copied the whole list first, grew by
// hundreds of MiB.
constexpr int64_t kGrowthLimitKb = 64 * 1024;

// Instrumented builds keep freed memory in quarantine and shadow every byte: their RSS says
// nothing about the service's own allocations, so there only the answers are checked.
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
constexpr bool kSanitized = true;
#else
constexpr bool kSanitized = false;
#endif

// A serialized BulkInviteRequest just under gRPC's 4 MiB limit: an EmailList of about two
// million empty strings (two bytes each on the wire), for `role` in `tenant`.
std::string HugeEmptyListRequest(pb::Role role, const std::string& tenant) {
  pb::BulkInviteRequest req;
  req.set_role(role);
  req.set_tenant_id(tenant);
  const size_t overhead = req.ByteSizeLong() + 8;  // the emails field's tag and length
  const size_t entries = (4 * 1024 * 1024 - overhead) / 2;
  auto* emails = req.mutable_emails()->mutable_emails();
  emails->Reserve(static_cast<int>(entries));
  for (size_t i = 0; i < entries; ++i) emails->Add();
  std::string bytes = req.SerializeAsString();
  EXPECT_LE(bytes.size(), 4u * 1024 * 1024);
  EXPECT_GT(bytes.size(), 4u * 1024 * 1024 - 64);
  return bytes;
}

// A small valid request: the warm-up call that starts the server's threads and pools.
std::string SmallRequest(pb::Role role, const std::string& tenant) {
  pb::BulkInviteRequest req;
  req.set_role(role);
  req.set_tenant_id(tenant);
  req.mutable_emails()->add_emails("");
  return req.SerializeAsString();
}

// One BulkInvite call's end: its status and how many response messages came before it.
struct CallEnd {
  grpc::Status status;
  int responses = 0;
};

// Sends `request` (already serialized) as one BulkInvite over `channel`, carrying
// `authorization` unless it is empty, and reads the stream to its end. The generic stub sends the
// bytes as they are, so many threads can share one request without copying or re-serializing it.
CallEnd CallBulkInvite(const std::shared_ptr<grpc::Channel>& channel,
                       const grpc::ByteBuffer& request, const std::string& authorization) {
  grpc::GenericStub stub(channel);
  grpc::CompletionQueue cq;
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(60));
  if (!authorization.empty()) ctx.AddMetadata("authorization", authorization);
  // One operation in flight at a time: each is awaited before the next starts.
  auto await = [&cq](void* tag) {
    void* got = nullptr;
    bool ok = false;
    EXPECT_TRUE(cq.Next(&got, &ok));
    EXPECT_EQ(got, tag);
    return ok;
  };
  int tag = 0;
  std::unique_ptr<grpc::GenericClientAsyncReaderWriter> call =
      stub.PrepareCall(&ctx, kBulkInviteMethod, &cq);
  call->StartCall(&tag);
  CallEnd end;
  if (await(&tag)) {
    // The server may refuse before reading everything; a failed write just ends the sending.
    call->Write(request, &tag);
    if (await(&tag)) {
      call->WritesDone(&tag);
      await(&tag);
    }
    grpc::ByteBuffer response;
    while (true) {
      call->Read(&response, &tag);
      if (!await(&tag)) break;
      ++end.responses;
    }
  }
  call->Finish(&end.status, &tag);
  await(&tag);
  cq.Shutdown();
  void* ignored_tag;
  bool ignored_ok;
  while (cq.Next(&ignored_tag, &ignored_ok)) {
  }
  return end;
}

// Sends the same request from `calls` threads at once.
std::vector<CallEnd> CallConcurrently(const std::shared_ptr<grpc::Channel>& channel,
                                      const std::string& request,
                                      const std::string& authorization, int calls) {
  grpc::Slice slice(request);
  const grpc::ByteBuffer shared(&slice, 1);  // copies share the slice by reference count
  std::vector<CallEnd> ends(calls);
  absl::Notification go;
  std::vector<std::thread> threads;
  for (int i = 0; i < calls; ++i) {
    threads.emplace_back([&, i, buffer = shared] {
      go.WaitForNotification();
      ends[i] = CallBulkInvite(channel, buffer, authorization);
    });
  }
  go.Notify();
  for (std::thread& t : threads) t.join();
  return ends;
}

// A field ("VmRSS", "VmHWM") of /proc/<pid>/status in kB, or -1.
int64_t ProcStatusKb(pid_t pid, absl::string_view field) {
  std::ifstream in(absl::StrCat("/proc/", pid, "/status"));
  std::string line;
  while (std::getline(in, line)) {
    absl::string_view rest = line;
    if (!absl::ConsumePrefix(&rest, field) || !absl::ConsumePrefix(&rest, ":")) continue;
    rest = absl::StripAsciiWhitespace(rest);
    absl::ConsumeSuffix(&rest, " kB");
    int64_t kb = -1;
    return absl::SimpleAtoi(rest, &kb) ? kb : -1;
  }
  return -1;
}

// The pid of this process's invitation_server child (e2e::ServerProcess forks and execs it
// directly), or -1. One server runs at a time in this binary.
pid_t ServerPid() {
  const std::string me = absl::StrCat(getpid());
  char wanted[PATH_MAX];
  if (realpath(INVITATION_SERVER_PATH, wanted) == nullptr) return -1;
  std::error_code error;
  for (const auto& entry : std::filesystem::directory_iterator("/proc", error)) {
    int pid = 0;
    if (!absl::SimpleAtoi(entry.path().filename().string(), &pid)) continue;
    std::ifstream stat(entry.path() / "stat");
    std::string text((std::istreambuf_iterator<char>(stat)), std::istreambuf_iterator<char>());
    // "pid (comm) state ppid ...": comm may hold spaces, so split after its closing parenthesis.
    const size_t close = text.rfind(')');
    if (close == std::string::npos || close + 2 > text.size()) continue;
    std::vector<absl::string_view> fields =
        absl::StrSplit(absl::string_view(text).substr(close + 2), ' ');
    if (fields.size() < 2 || fields[1] != me) continue;
    char exe[PATH_MAX];
    const ssize_t n = readlink((entry.path() / "exe").c_str(), exe, sizeof exe - 1);
    if (n > 0 && std::string(exe, n) == wanted) return pid;
  }
  return -1;
}

// Resets the peak (VmHWM) of `pid` to its current RSS (Linux >= 4.0); false if not allowed.
bool ResetPeakRss(pid_t pid) {
  const int fd = open(absl::StrCat("/proc/", pid, "/clear_refs").c_str(), O_WRONLY);
  if (fd < 0) return false;
  const bool ok = write(fd, "5", 1) == 1;
  close(fd);
  return ok;
}

class BulkMemoryTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    key_ = new std::shared_ptr<EVP_PKEY>(GenerateRsaKey());
    key_file_ = new std::string(e2e::WriteTempFile("jwt-public.pem", PublicKeyPem(key_->get())));
  }
  static void TearDownTestSuite() {
    delete key_;
    delete key_file_;
  }

  // Starts a server process of its own (so no earlier scenario's heap is reused) that checks
  // JWTs and allows kMaxAddresses addresses per bulk.
  void SetUp() override {
    static int servers = 0;
    const std::string database = absl::StrCat("bulk_memory_", getpid(), "_", ++servers);
    const absl::Status created = SharedMariaDb().CreateDatabase(database);
    ASSERT_TRUE(created.ok()) << created;
    e2e::ServerProcess::Options options;
    options.mysql_uri = SharedMariaDb().Uri(database);
    options.env = {
        "INVITATIONS_AUTH=jwt",
        absl::StrCat("INVITATIONS_JWT_PUBLIC_KEY_FILE=", *key_file_),
        absl::StrCat("INVITATIONS_JWT_ISSUER=", kIssuer),
        absl::StrCat("INVITATIONS_JWT_AUDIENCE=", kAudience),
        absl::StrCat("INVITATIONS_BULK_MAX_ADDRESSES=", kMaxAddresses),
        absl::StrCat("INVITATIONS_TOKEN_SEALING_KEY_FILE=",
                     e2e::WriteTempFile("sealing.key",
                                        "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=")),
    };
    absl::StatusOr<std::unique_ptr<e2e::ServerProcess>> server =
        e2e::ServerProcess::Start(options);
    ASSERT_TRUE(server.ok()) << server.status();
    server_ = *std::move(server);
    pid_ = ServerPid();
    ASSERT_GT(pid_, 0) << "cannot find the invitation_server child process";
    channel_ = grpc::CreateChannel(server_->address(), grpc::InsecureChannelCredentials());
  }

  // "Bearer <jwt>" for a caller with `role_name` in tenant "acme".
  static std::string BearerFor(const std::string& role_name) {
    Json claims = KeycloakClaims(absl::Now());
    claims["sub"] = absl::StrCat("sub-", role_name);
    claims["realm_access"]["roles"] = {"offline_access", role_name};
    return absl::StrCat("Bearer ", SignRs256(Json{{"alg", "RS256"}, {"typ", "JWT"}}, claims,
                                             key_->get()));
  }

  // Makes `warm_up` once, takes the server's RSS as the baseline, sends `request` from `calls`
  // threads at once, and returns how far the peak RSS rose above the baseline, in kB.
  int64_t PeakGrowthKb(const std::string& warm_up, const std::string& request,
                       const std::string& authorization, int calls, std::vector<CallEnd>* ends) {
    CallConcurrently(channel_, warm_up, authorization, 1);
    const int64_t baseline = ProcStatusKb(pid_, "VmRSS");
    // Without the reset the peak includes start-up; the growth is then over-, never
    // under-estimated.
    ResetPeakRss(pid_);
    *ends = CallConcurrently(channel_, request, authorization, calls);
    const int64_t peak = ProcStatusKb(pid_, "VmHWM");
    EXPECT_GT(baseline, 0);
    EXPECT_GT(peak, 0);
    const int64_t growth = peak - baseline;
    std::cout << "[ memory   ] baseline VmRSS " << baseline / 1024 << " MiB, peak VmHWM "
              << peak / 1024 << " MiB, growth " << growth / 1024 << " MiB (" << growth
              << " kB)\n";
    return growth;
  }

  void ExpectBounded(int64_t growth_kb) {
    if (kSanitized) return;
    EXPECT_LT(growth_kb, kGrowthLimitKb)
        << "the server's peak RSS grew by " << growth_kb / 1024 << " MiB";
  }

  static std::shared_ptr<EVP_PKEY>* key_;
  static std::string* key_file_;
  std::unique_ptr<e2e::ServerProcess> server_;
  pid_t pid_ = -1;
  std::shared_ptr<grpc::Channel> channel_;
};

std::shared_ptr<EVP_PKEY>* BulkMemoryTest::key_ = nullptr;
std::string* BulkMemoryTest::key_file_ = nullptr;

TEST_F(BulkMemoryTest, AnonymousHugeListsAreRefusedWithoutParsing) {
  std::vector<CallEnd> ends;
  const int64_t growth =
      PeakGrowthKb(SmallRequest(pb::ROLE_VPN_USER, "acme"),
                   HugeEmptyListRequest(pb::ROLE_VPN_USER, "acme"), "", kConcurrentCalls, &ends);
  for (const CallEnd& end : ends) {
    EXPECT_EQ(end.status.error_code(), grpc::StatusCode::UNAUTHENTICATED)
        << end.status.error_message();
    EXPECT_EQ(end.responses, 0);
  }
  ExpectBounded(growth);
}

TEST_F(BulkMemoryTest, NonAdminHugeListsAreRefusedWithoutParsing) {
  const std::string vpn_user = BearerFor("securelink-vpn-user");
  std::vector<CallEnd> ends;
  const int64_t growth = PeakGrowthKb(SmallRequest(pb::ROLE_VPN_USER, "acme"),
                                      HugeEmptyListRequest(pb::ROLE_VPN_USER, "acme"), vpn_user,
                                      kConcurrentCalls, &ends);
  for (const CallEnd& end : ends) {
    EXPECT_EQ(end.status.error_code(), grpc::StatusCode::PERMISSION_DENIED)
        << end.status.error_message();
    EXPECT_EQ(end.responses, 0);
  }
  ExpectBounded(growth);
}

TEST_F(BulkMemoryTest, AnAdminListOverTheMaximumStopsBeingReadAtTheMaximum) {
  const std::string super_admin = BearerFor("securelink-super-admin");
  std::vector<CallEnd> ends;
  // The warm-up is a valid bulk of one blank entry (reported INVALID_EMAIL; nothing is written).
  const int64_t growth = PeakGrowthKb(SmallRequest(pb::ROLE_VPN_USER, "acme"),
                                      HugeEmptyListRequest(pb::ROLE_VPN_USER, "acme"),
                                      super_admin, 1, &ends);
  ASSERT_EQ(ends.size(), 1u);
  EXPECT_EQ(ends[0].status.error_code(), grpc::StatusCode::INVALID_ARGUMENT)
      << ends[0].status.error_message();
  EXPECT_THAT(ends[0].status.error_message(),
              HasSubstr(absl::StrCat("holds more than ", kMaxAddresses, " addresses; at most ",
                                     kMaxAddresses, " are allowed in one call")));
  EXPECT_EQ(ends[0].responses, 0);
  ExpectBounded(growth);
}

}  // namespace
}  // namespace securelink::testing
