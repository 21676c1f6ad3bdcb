// Pure logic of the operations pieces: what health says while draining, the metric names and
// labels as Prometheus reads them, and log lines that stay valid JSON whatever bytes they carry.
#include <fcntl.h>
#include <unistd.h>

#include <cmath>
#include <atomic>
#include <cstdio>
#include <ctime>
#include <vector>

#include <ctime>

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

using ::testing::HasSubstr;

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

// What Prometheus users expect of any process, and which build this is.
TEST(Metrics, ProcessMetricsAndBuildInfoDescribeThisProcess) {
  // Enough CPU time to show at the kernel's 10 ms accounting.
  for (const std::clock_t start = std::clock(); std::clock() - start < CLOCKS_PER_SEC / 20;) {
  }
  inv::metrics::Metrics metrics;
  const std::string text = metrics.Scrape();
  EXPECT_THAT(text, HasSubstr("# TYPE process_cpu_seconds_total counter"));
  EXPECT_GT(Sample(text, "process_cpu_seconds_total").value_or(-1), 0);
  // The test binary alone holds megabytes; a misread page count would not.
  EXPECT_GT(Sample(text, "process_resident_memory_bytes").value_or(-1), 1 << 20);
  EXPECT_GT(Sample(text, "process_virtual_memory_bytes").value_or(-1), 1 << 20);
  EXPECT_GE(Sample(text, "process_open_fds").value_or(-1), 3);  // stdin, stdout, stderr
  EXPECT_GT(Sample(text, "process_max_fds").value_or(-1), 0);
  const double started = Sample(text, "process_start_time_seconds").value_or(-1);
  const double now = static_cast<double>(absl::ToUnixSeconds(absl::Now()));
  EXPECT_LE(started, now + 1);
  EXPECT_GT(started, now - 600) << "this test process started minutes ago at most";
  const size_t at = text.find("invitations_build_info{");
  ASSERT_NE(at, std::string::npos) << text;
  const std::string line = text.substr(at, text.find('\n', at) - at);
  EXPECT_THAT(line, HasSubstr("version=\"0.1.0\""));
  EXPECT_THAT(line, ::testing::ContainsRegex("revision=\"([0-9a-f]{12}|unknown)\""));
  EXPECT_THAT(line, ::testing::EndsWith(" 1"));
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

// The line Log writes to stderr for `message` and `fields`.
std::string LoggedLine(inv::LogLevel level, absl::string_view message,
                       const inv::LogFields& fields) {
  const std::string path = e2e::WriteTempFile("log", "");
  fflush(stderr);
  const int saved = dup(2);
  const int fd = open(path.c_str(), O_WRONLY | O_TRUNC);
  EXPECT_GE(fd, 0);
  dup2(fd, 2);
  inv::Log(level, message, fields);
  fflush(stderr);
  dup2(saved, 2);
  close(saved);
  close(fd);
  return e2e::ReadWholeFile(path);
}

TEST(Log, EveryLineIsValidJsonWhateverBytesItCarries) {
  const std::string line =
      LoggedLine(inv::LogLevel::kWarning, "bad bytes \xff\xfe and quotes \" and\nnewlines",
                 {{"field", std::string("nul\0byte\x80 ok \xc3\xa9", 15)}});
  nlohmann::json j = nlohmann::json::parse(line, nullptr, /*allow_exceptions=*/false);
  ASSERT_TRUE(j.is_object()) << line;
  EXPECT_EQ(j.value("level", ""), "warning");
  EXPECT_THAT(j.value("field", ""), ::testing::HasSubstr("ok \xc3\xa9"));  // valid UTF-8 kept
}

TEST(Log, NumbersAndBooleansKeepTheirJsonTypes) {
  const std::string line = LoggedLine(
      inv::LogLevel::kWarning, "typed",
      {{"count", int64_t{42}}, {"port", 8080}, {"latency_ms", 1.25}, {"draining", true},
       {"not_a_number", std::nan("")}, {"text", "42"}});
  nlohmann::json j = nlohmann::json::parse(line, nullptr, /*allow_exceptions=*/false);
  ASSERT_TRUE(j.is_object()) << line;
  EXPECT_TRUE(j["count"].is_number_integer()) << line;
  EXPECT_EQ(j["count"], 42);
  EXPECT_EQ(j["port"], 8080);
  EXPECT_DOUBLE_EQ(j["latency_ms"].get<double>(), 1.25);
  EXPECT_EQ(j["draining"], true);
  EXPECT_TRUE(j["not_a_number"].is_string()) << line;  // JSON has no NaN
  EXPECT_EQ(j["text"], "42");
}

}  // namespace
}  // namespace securelink::testing::ops
