// Pure logic of the operations pieces: what health says while draining, the metric names and
// labels as Prometheus reads them, and log lines that stay valid JSON whatever bytes they carry.
#include <fcntl.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "server/runtime/health_monitor.h"
#include "server/metrics/metrics.h"
#include "server/util/log.h"
#include "tests/client/e2e_support.h"
#include "tests/ops/ops_support.h"
#include "tests/support/wait.h"

namespace securelink::testing::ops {
namespace {

namespace inv = ::securelink::invitations;

struct Published {
  absl::Mutex mu;
  std::vector<bool> verdicts;
  std::vector<bool> Get() {
    absl::MutexLock lock(&mu);
    return verdicts;
  }
};

TEST(HealthMonitor, DrainingStaysNotServingEvenWhenTheDatabaseAnswers) {
  std::atomic<bool> database_ok{true};
  std::atomic<int> probes{0};
  Published published;
  inv::HealthMonitor health(
      [&] {
        ++probes;
        return database_ok ? absl::OkStatus() : absl::UnavailableError("down");
      },
      [&](bool serving) {
        absl::MutexLock lock(&published.mu);
        published.verdicts.push_back(serving);
      },
      absl::Milliseconds(100));
  health.Start();
  EXPECT_THAT(published.Get(), ::testing::ElementsAre(true));  // published before Start returns

  database_ok = false;
  ASSERT_TRUE(WaitFor([&] { return !health.serving(); }));
  database_ok = true;
  ASSERT_TRUE(WaitFor([&] { return health.serving(); }));

  health.BeginDrain();
  EXPECT_FALSE(health.serving());
  const int seen = probes;
  ASSERT_TRUE(WaitFor([&] { return probes >= seen + 2; }));  // healthy probes after the drain
  EXPECT_FALSE(health.serving());
  health.Stop();
  EXPECT_THAT(published.Get(), ::testing::ElementsAre(true, false, true, false));
}

TEST(Metrics, GrpcSeriesUseTheGoCodeNamesAndExistAtZero) {
  inv::metrics::Metrics metrics;
  metrics.AddGrpcMethod("/pkg.Svc/Do", inv::metrics::GrpcType::kServerStream);
  const std::string text = metrics.Scrape();
  const std::map<std::string, std::string> method = {
      {"grpc_service", "pkg.Svc"}, {"grpc_method", "Do"}, {"grpc_type", "server_stream"}};
  for (const char* code : {"OK", "Canceled", "Unknown", "InvalidArgument", "DeadlineExceeded",
                           "NotFound", "AlreadyExists", "PermissionDenied", "ResourceExhausted",
                           "FailedPrecondition", "Aborted", "OutOfRange", "Unimplemented",
                           "Internal", "Unavailable", "DataLoss", "Unauthenticated"}) {
    auto labels = method;
    labels["grpc_code"] = code;
    EXPECT_EQ(Sample(text, "grpc_server_handled_total", labels), 0) << code;
  }
  EXPECT_EQ(Sample(text, "grpc_server_handled_total").has_value(), false);
  EXPECT_EQ(Sample(text, "grpc_server_handling_seconds_count", method), 0);
  EXPECT_EQ(metrics.ForMethod("/pkg.Svc/Unknown"), nullptr);  // never recorded: unbounded names
}

TEST(Metrics, ServesTheSameTextOverHttpOnAFreePort) {
  inv::metrics::Metrics metrics;
  metrics.InvitationChanged(inv::AuditEventType::kRevoked, inv::Role::kTenantAdmin);
  ASSERT_TRUE(metrics.Serve("127.0.0.1:0").ok());
  ASSERT_GT(metrics.port(), 0);
  absl::StatusOr<std::string> page = HttpGet(metrics.port());
  ASSERT_TRUE(page.ok()) << page.status();
  EXPECT_EQ(Sample(*page, "invitations_state_changes_total",
                   {{"change", "revoked"}, {"role", "tenant_admin"}}),
            1);
  // A taken address is a clear error, not an exception.
  inv::metrics::Metrics other;
  absl::Status taken = other.Serve(absl::StrCat("127.0.0.1:", metrics.port()));
  EXPECT_EQ(taken.code(), absl::StatusCode::kUnavailable);
}

TEST(Log, EveryLineIsValidJsonWhateverBytesItCarries) {
  const std::string path = e2e::WriteTempFile("log", "");
  fflush(stderr);
  const int saved = dup(2);
  const int fd = open(path.c_str(), O_WRONLY | O_TRUNC);
  ASSERT_GE(fd, 0);
  dup2(fd, 2);
  inv::Log(inv::LogLevel::kWarning, "bad bytes \xff\xfe and quotes \" and\nnewlines",
           {{"field", std::string("nul\0byte\x80 ok \xc3\xa9", 15)}});
  fflush(stderr);
  dup2(saved, 2);
  close(saved);
  close(fd);
  const std::string line = e2e::ReadWholeFile(path);
  nlohmann::json j = nlohmann::json::parse(line, nullptr, /*allow_exceptions=*/false);
  ASSERT_TRUE(j.is_object()) << line;
  EXPECT_EQ(j.value("level", ""), "warning");
  EXPECT_THAT(j.value("field", ""), ::testing::HasSubstr("ok \xc3\xa9"));  // valid UTF-8 kept
}

}  // namespace
}  // namespace securelink::testing::ops
