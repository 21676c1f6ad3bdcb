// invitations_load's pure parts: the command line, the RPC mix, percentiles and the reports that
// deploy/bench.sh reads.
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "latency_stats.h"
#include "load_config.h"
#include "nlohmann/json.hpp"

namespace securelink::invitations::load {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

MATCHER_P2(Entry, op, weight, "") { return arg.op == op && arg.weight == weight; }

TEST(ParseMix, ReadsOperationsAndWeightsWithOneAsTheDefaultWeight) {
  absl::StatusOr<std::vector<MixEntry>> mix = ParseMix("create:2, get:8,health");
  ASSERT_TRUE(mix.ok()) << mix.status();
  EXPECT_THAT(*mix, ElementsAre(Entry(Operation::kCreate, 2), Entry(Operation::kGet, 8),
                                Entry(Operation::kHealth, 1)));
}

TEST(ParseMix, RejectsUnknownOperationsBadWeightsDuplicatesAndEmptiness) {
  for (const char* bad : {"delete:1", "create:0", "create:-1", "create:x", "get,get", "", " , "}) {
    absl::StatusOr<std::vector<MixEntry>> mix = ParseMix(bad);
    EXPECT_EQ(mix.status().code(), absl::StatusCode::kInvalidArgument) << bad;
    EXPECT_THAT(std::string(mix.status().message()), HasSubstr("--mix")) << bad;
  }
}

TEST(ParseLoadArgs, DefaultsAreAShortClosedLoopCreateRun) {
  absl::StatusOr<LoadConfig> config = ParseLoadArgs({});
  ASSERT_TRUE(config.ok());
  EXPECT_EQ(config->concurrency, 16);
  EXPECT_EQ(config->duration, absl::Seconds(10));
  EXPECT_FALSE(config->calls.has_value());
  EXPECT_EQ(config->rate, 0);
  EXPECT_THAT(config->mix, ElementsAre(Entry(Operation::kCreate, 1)));
}

TEST(ParseLoadArgs, TakesInlineAndSeparateValues) {
  absl::StatusOr<LoadConfig> config =
      ParseLoadArgs({"--target=10.0.0.1:9000", "--concurrency", "64", "--calls=5000",
                     "--rate", "250.5", "--warmup=0s", "--mix=get:3,list", "--json",
                     "--channels=4", "--seed_invitations=0", "--deadline=750ms"});
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_EQ(config->target, "10.0.0.1:9000");
  EXPECT_EQ(config->concurrency, 64);
  EXPECT_EQ(config->calls, 5000);
  EXPECT_DOUBLE_EQ(config->rate, 250.5);
  EXPECT_EQ(config->warmup, absl::ZeroDuration());
  EXPECT_EQ(config->deadline, absl::Milliseconds(750));
  EXPECT_EQ(config->channels, 4);
  EXPECT_EQ(config->seed_invitations, 0);
  EXPECT_TRUE(config->json);
  EXPECT_THAT(config->mix, ElementsAre(Entry(Operation::kGet, 3), Entry(Operation::kList, 1)));
}

TEST(ParseLoadArgs, RejectsWhatCannotBeRunWithAMessageNamingTheFlag) {
  struct Case {
    std::vector<std::string> args;
    std::string mentions;
  };
  for (const Case& c : std::vector<Case>{
           {{"--duration=10s", "--calls=5"}, "not both"},
           {{"--concurrency=0"}, "--concurrency"},
           {{"--concurrency"}, "needs a value"},
           {{"--duration=0s"}, "--duration"},
           {{"--duration=soon"}, "--duration"},
           {{"--rate=-3"}, "--rate"},
           {{"--channels=8", "--concurrency=4"}, "--channels"},
           {{"--frobnicate"}, "unknown flag --frobnicate"},
           {{"positional"}, "unexpected argument"},
           {{"--json=maybe"}, "--json"}}) {
    absl::StatusOr<LoadConfig> config = ParseLoadArgs(c.args);
    EXPECT_EQ(config.status().code(), absl::StatusCode::kInvalidArgument) << c.mentions;
    EXPECT_THAT(std::string(config.status().message()), HasSubstr(c.mentions));
  }
}

TEST(NearestRankPercentile, PicksTheSmallestValueCoveringThePercentage) {
  std::vector<int64_t> values;
  for (int64_t v = 100; v >= 1; --v) values.push_back(v);  // 1..100, unsorted
  EXPECT_EQ(NearestRankPercentile(values, 50), 50);
  EXPECT_EQ(NearestRankPercentile(values, 90), 90);
  EXPECT_EQ(NearestRankPercentile(values, 99), 99);
  EXPECT_EQ(NearestRankPercentile(values, 100), 100);
  std::vector<int64_t> three = {30, 10, 20};
  EXPECT_EQ(NearestRankPercentile(three, 50), 20);
  EXPECT_EQ(NearestRankPercentile(three, 99), 30);
  std::vector<int64_t> none;
  EXPECT_EQ(NearestRankPercentile(none, 50), 0);
}

TEST(Summarize, CountsErrorsByCodeAndTimesOnlySuccessfulCalls) {
  LatencyRecorder a, b;
  for (int ms = 1; ms <= 10; ++ms) a.Record(absl::StatusCode::kOk, absl::Milliseconds(ms));
  b.Record(absl::StatusCode::kUnavailable, absl::Seconds(30));  // must not become the max
  b.Record(absl::StatusCode::kUnavailable, absl::Milliseconds(1));
  b.Record(absl::StatusCode::kDeadlineExceeded, absl::Seconds(10));
  a.Merge(b);
  LatencySummary s = Summarize(a, absl::Seconds(2));
  EXPECT_EQ(s.calls, 13);
  EXPECT_EQ(s.ok, 10);
  EXPECT_EQ(s.errors, 3);
  EXPECT_EQ(s.errors_by_code.at("UNAVAILABLE"), 2);
  EXPECT_EQ(s.errors_by_code.at("DEADLINE_EXCEEDED"), 1);
  EXPECT_DOUBLE_EQ(s.throughput, 5.0);
  EXPECT_EQ(s.p50, absl::Milliseconds(5));
  EXPECT_EQ(s.p90, absl::Milliseconds(9));
  EXPECT_EQ(s.max, absl::Milliseconds(10));
  EXPECT_EQ(s.mean, absl::Microseconds(5500));
}

TEST(FormatJson, IsWhatTheBenchmarkScriptReads) {
  LatencyRecorder r;
  r.Record(absl::StatusCode::kOk, absl::Milliseconds(4));
  r.Record(absl::StatusCode::kInternal, absl::Milliseconds(1));
  LoadReport report{"127.0.0.1:1", 8, 0, absl::Seconds(1), {{"all", Summarize(r, absl::Seconds(1))}}};
  nlohmann::json doc = nlohmann::json::parse(FormatJson(report));
  EXPECT_EQ(doc["concurrency"], 8);
  EXPECT_EQ(doc["results"]["all"]["ok"], 1);
  EXPECT_EQ(doc["results"]["all"]["errors_by_code"]["INTERNAL"], 1);
  EXPECT_DOUBLE_EQ(doc["results"]["all"]["throughput"].get<double>(), 1.0);
  EXPECT_DOUBLE_EQ(doc["results"]["all"]["latency_ms"]["p99"].get<double>(), 4.0);
  EXPECT_THAT(FormatText(report), HasSubstr("INTERNAL: 1"));
}

}  // namespace
}  // namespace securelink::invitations::load
