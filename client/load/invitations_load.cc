// invitations_load: a ghz-like load generator for the invitation service, built on the client
// library. Phases: seed (invitations for get/validate to read), warm-up (unrecorded), measured
// run; then a report as text or JSON (load_config.h lists the settings).
#include <grpcpp/grpcpp.h>

#include <atomic>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <map>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/random/random.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "absl/time/clock.h"
#include "grpc/health/v1/health.grpc.pb.h"
#include "latency_stats.h"
#include "load_config.h"
#include "securelink/invitations/client.h"

namespace securelink::invitations::load {
namespace {

namespace v1 = ::securelink::invitations::v1;
using client::InvitationClient;

// What the callers share: one client (and health stub) per channel, the seeded invitations.
struct Targets {
  std::vector<std::unique_ptr<InvitationClient>> clients;
  std::vector<std::unique_ptr<grpc::health::v1::Health::Stub>> health;
  std::vector<std::string> ids;     // seeded invitation ids, for get
  std::vector<std::string> tokens;  // their registration tokens, for validate
};

Targets Connect(const LoadConfig& config) {
  Targets t;
  for (int i = 0; i < config.channels; ++i) {
    grpc::ChannelArguments args;
    // A distinct argument per channel stops gRPC from sharing one subchannel (one TCP
    // connection) between them.
    args.SetInt("securelink.load_channel", i);
    std::shared_ptr<grpc::Channel> channel =
        grpc::CreateCustomChannel(config.target, grpc::InsecureChannelCredentials(), args);
    client::ClientOptions options;
    options.target = config.target;
    options.channel = channel;
    options.bearer_token = config.bearer_token;
    options.deadline = config.deadline;
    options.retry.max_attempts = 1;  // a retry would hide the failure being measured
    options.user_agent = "invitations_load/0.1";
    t.clients.push_back(std::make_unique<InvitationClient>(std::move(options)));
    t.health.push_back(grpc::health::v1::Health::NewStub(channel));
  }
  return t;
}

// The token of a registration URL "<base>?token=<token>", or "" when it has none.
std::string TokenOf(absl::string_view url) {
  size_t at = url.find("token=");
  return at == absl::string_view::npos ? "" : std::string(url.substr(at + 6));
}

class Caller {
 public:
  Caller(const LoadConfig& config, Targets& targets, int index, std::string run_id)
      : config_(config),
        targets_(targets),
        index_(index),
        run_id_(std::move(run_id)),
        client_(*targets.clients[index % targets.clients.size()]),
        health_(*targets.health[index % targets.health.size()]) {}

  // One call of `op`; the status it ended with.
  absl::Status Call(Operation op) {
    switch (op) {
      case Operation::kCreate: return Create().status();
      case Operation::kGet: {
        v1::GetInvitationRequest request;
        request.set_id(Pick(targets_.ids));
        return client_.GetInvitation(request).status();
      }
      case Operation::kList: {
        v1::ListInvitationsRequest request;
        request.set_tenant_id(config_.tenant_id);
        request.set_page_size(50);
        return client_.ListInvitations(request).status();
      }
      case Operation::kValidate: {
        v1::ValidateInvitationTokenRequest request;
        request.set_token(Pick(targets_.tokens));
        return client_.ValidateInvitationToken(request).status();
      }
      case Operation::kHealth: {
        grpc::ClientContext context;
        context.set_deadline(absl::ToChronoTime(absl::Now() + config_.deadline));
        grpc::health::v1::HealthCheckRequest request;
        grpc::health::v1::HealthCheckResponse response;
        grpc::Status s = health_.Check(&context, request, &response);
        return absl::Status(static_cast<absl::StatusCode>(s.error_code()), s.error_message());
      }
    }
    return absl::InternalError("unknown operation");
  }

  absl::StatusOr<v1::CreateInvitationResponse> Create() {
    v1::CreateInvitationRequest request;
    request.set_email(absl::StrCat("load-", run_id_, "-", index_, "-", next_email_++, "@",
                                   config_.email_domain));
    request.set_role(v1::ROLE_VPN_USER);
    request.set_tenant_id(config_.tenant_id);
    request.set_suppress_email(!config_.send_email);
    return client_.CreateInvitation(request);
  }

  Operation PickOperation(const std::vector<Operation>& wheel) {
    return wheel[absl::Uniform<size_t>(rng_, 0, wheel.size())];
  }

 private:
  const std::string& Pick(const std::vector<std::string>& from) {
    static const std::string kNone = "00000000-0000-0000-0000-000000000000";
    return from.empty() ? kNone : from[absl::Uniform<size_t>(rng_, 0, from.size())];
  }

  const LoadConfig& config_;
  Targets& targets_;
  const int index_;
  const std::string run_id_;
  InvitationClient& client_;
  grpc::health::v1::Health::Stub& health_;
  int64_t next_email_ = 0;
  absl::BitGen rng_;
};

// Creates config.seed_invitations invitations for get/validate, spread over the callers.
absl::Status Seed(const LoadConfig& config, std::vector<std::unique_ptr<Caller>>& callers,
                  Targets& targets) {
  std::atomic<int> next{0};
  absl::Mutex mu;
  absl::Status first_error;
  std::vector<std::thread> threads;
  for (auto& caller : callers) {
    threads.emplace_back([&, c = caller.get()] {
      while (next.fetch_add(1) < config.seed_invitations) {
        absl::StatusOr<v1::CreateInvitationResponse> created = c->Create();
        absl::MutexLock lock(&mu);
        if (!created.ok()) {
          if (first_error.ok()) first_error = created.status();
          continue;
        }
        targets.ids.push_back(created->invitation().id());
        targets.tokens.push_back(TokenOf(created->registration_url()));
      }
    });
  }
  for (std::thread& t : threads) t.join();
  return first_error;
}

// Runs the callers until `end` (or until `calls` calls have started, when set), pacing starts at
// config.rate when it is positive. Records into `recorders[caller][op]` when `record`.
void Drive(const LoadConfig& config, std::vector<std::unique_ptr<Caller>>& callers,
           const std::vector<Operation>& wheel, absl::Time end, std::optional<int64_t> calls,
           std::vector<std::vector<LatencyRecorder>>* recorders) {
  const absl::Time start = absl::Now();
  std::atomic<int64_t> started{0};
  std::vector<std::thread> threads;
  for (size_t i = 0; i < callers.size(); ++i) {
    threads.emplace_back([&, i] {
      Caller& caller = *callers[i];
      for (;;) {
        const int64_t n = started.fetch_add(1);
        if (calls.has_value() && n >= *calls) return;
        absl::Time scheduled = absl::Now();
        if (config.rate > 0) {
          scheduled = start + absl::Seconds(static_cast<double>(n) / config.rate);
          if (scheduled >= end) return;
          absl::SleepFor(scheduled - absl::Now());  // pacing, a no-op when behind schedule
        } else if (!calls.has_value() && scheduled >= end) {
          return;
        }
        const Operation op = caller.PickOperation(wheel);
        const absl::Status status = caller.Call(op);
        if (recorders != nullptr) {
          (*recorders)[i][static_cast<size_t>(op)].Record(status.code(), absl::Now() - scheduled);
        }
      }
    });
  }
  for (std::thread& t : threads) t.join();
}

// Holds config.watch_streams event streams open for config.hold, spread over the channels.
int HoldWatchStreams(const LoadConfig& config, Targets& targets) {
  std::vector<std::unique_ptr<client::StreamCanceller>> cancellers;
  absl::Mutex mu;
  std::map<std::string, int64_t> ended_early;  // status code name → streams
  std::vector<std::thread> threads;
  for (int i = 0; i < config.watch_streams; ++i) {
    cancellers.push_back(std::make_unique<client::StreamCanceller>());
    threads.emplace_back([&, i, canceller = cancellers.back().get()] {
      v1::WatchInvitationEventsRequest request;
      absl::Status status = targets.clients[i % targets.clients.size()]->WatchInvitationEvents(
          request, [](const v1::InvitationEvent&) { return true; }, canceller);
      if (!canceller->IsCancelled()) {
        absl::MutexLock lock(&mu);
        ++ended_early[absl::StatusCodeToString(status.code())];
      }
    });
  }
  std::cerr << "holding " << config.watch_streams << " streams" << std::endl;
  absl::SleepFor(config.hold);  // the point of this mode: keep them open this long
  for (auto& c : cancellers) c->Cancel();
  for (std::thread& t : threads) t.join();
  int64_t early = 0;
  std::string codes;
  for (const auto& [code, n] : ended_early) {
    early += n;
    absl::StrAppend(&codes, codes.empty() ? "" : ",", "\"", code, "\":", n);
  }
  const std::string json = absl::StrCat("{\"watch_streams\":", config.watch_streams,
                                        ",\"ended_early\":", early, ",\"ended_early_by_code\":{",
                                        codes, "}}\n");
  std::cout << json << std::flush;
  if (!config.json_out.empty()) std::ofstream(config.json_out) << json;
  return early == 0 ? 0 : 1;
}

int Run(const LoadConfig& config) {
  Targets targets = Connect(config);
  if (config.watch_streams > 0) return HoldWatchStreams(config, targets);
  const std::string run_id = client::NewRequestId().substr(0, 8);
  std::vector<std::unique_ptr<Caller>> callers;
  for (int i = 0; i < config.concurrency; ++i) {
    callers.push_back(std::make_unique<Caller>(config, targets, i, run_id));
  }
  std::vector<Operation> wheel;
  bool needs_seed = false;
  for (const MixEntry& e : config.mix) {
    wheel.insert(wheel.end(), e.weight, e.op);
    needs_seed |= e.op == Operation::kGet || e.op == Operation::kValidate;
  }
  if (needs_seed && config.seed_invitations > 0) {
    if (absl::Status s = Seed(config, callers, targets); !s.ok()) {
      std::cerr << "invitations_load: seeding invitations failed: " << s << "\n";
      return 1;
    }
  }
  if (config.warmup > absl::ZeroDuration()) {
    Drive(config, callers, wheel, absl::Now() + config.warmup, std::nullopt, nullptr);
  }
  constexpr size_t kOperations = static_cast<size_t>(Operation::kHealth) + 1;
  std::vector<std::vector<LatencyRecorder>> recorders(
      callers.size(), std::vector<LatencyRecorder>(kOperations));
  const absl::Time start = absl::Now();
  Drive(config, callers, wheel,
        config.calls.has_value() ? absl::InfiniteFuture() : start + config.duration,
        config.calls, &recorders);
  const absl::Duration elapsed = absl::Now() - start;

  LoadReport report{config.target, config.concurrency, config.rate, elapsed, {}};
  LatencyRecorder all;
  std::vector<std::pair<std::string, LatencySummary>> per_op;
  for (const MixEntry& e : config.mix) {
    LatencyRecorder op;
    for (auto& by_op : recorders) op.Merge(by_op[static_cast<size_t>(e.op)]);
    all.Merge(op);
    per_op.emplace_back(std::string(OperationName(e.op)), Summarize(op, elapsed));
  }
  report.summaries.emplace_back("all", Summarize(all, elapsed));
  if (per_op.size() > 1) {
    report.summaries.insert(report.summaries.end(), per_op.begin(), per_op.end());
  }
  const std::string json = FormatJson(report);
  std::cout << (config.json ? json : FormatText(report)) << std::flush;
  if (!config.json_out.empty()) {
    std::ofstream out(config.json_out);
    out << json;
    if (!out.good()) {
      std::cerr << "invitations_load: cannot write " << config.json_out << "\n";
      return 1;
    }
  }
  return all.ok() > 0 ? 0 : 1;
}

}  // namespace
}  // namespace securelink::invitations::load

int main(int argc, char** argv) {
  using namespace securelink::invitations::load;  // NOLINT: main
  std::vector<std::string> args(argv + 1, argv + argc);
  for (const std::string& a : args) {
    if (a == "--help" || a == "-h") {
      std::cout << LoadUsage();
      return 0;
    }
  }
  absl::StatusOr<LoadConfig> config = ParseLoadArgs(args);
  if (!config.ok()) {
    std::cerr << "invitations_load: " << config.status().message() << "\n\n" << LoadUsage();
    return 2;
  }
  return Run(*config);
}
