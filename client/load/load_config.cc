#include "load_config.h"

#include <map>

#include "absl/status/status.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"

namespace securelink::invitations::load {
namespace {

constexpr Operation kAllOperations[] = {Operation::kCreate, Operation::kGet, Operation::kList,
                                        Operation::kValidate, Operation::kHealth};

absl::Status Bad(absl::string_view flag, absl::string_view problem) {
  return absl::InvalidArgumentError(absl::StrCat("--", flag, ": ", problem));
}

absl::StatusOr<int64_t> PositiveInt(absl::string_view flag, absl::string_view value) {
  int64_t n = 0;
  if (!absl::SimpleAtoi(value, &n) || n <= 0) return Bad(flag, "must be a positive integer");
  return n;
}

absl::StatusOr<int64_t> NonNegativeInt(absl::string_view flag, absl::string_view value) {
  int64_t n = 0;
  if (!absl::SimpleAtoi(value, &n) || n < 0) return Bad(flag, "must be an integer >= 0");
  return n;
}

absl::StatusOr<absl::Duration> Duration(absl::string_view flag, absl::string_view value,
                                        bool allow_zero) {
  absl::Duration d;
  if (!absl::ParseDuration(value, &d) || d < absl::ZeroDuration() ||
      (!allow_zero && d == absl::ZeroDuration()) || d == absl::InfiniteDuration()) {
    return Bad(flag, allow_zero ? "must be a duration >= 0 such as 2s or 500ms"
                                : "must be a positive duration such as 30s or 500ms");
  }
  return d;
}

absl::StatusOr<bool> Bool(absl::string_view flag, absl::string_view value) {
  if (value == "true" || value == "1" || value.empty()) return true;
  if (value == "false" || value == "0") return false;
  return Bad(flag, "must be true or false");
}

}  // namespace

absl::string_view OperationName(Operation op) {
  switch (op) {
    case Operation::kCreate: return "create";
    case Operation::kGet: return "get";
    case Operation::kList: return "list";
    case Operation::kValidate: return "validate";
    case Operation::kHealth: return "health";
  }
  return "?";
}

absl::StatusOr<std::vector<MixEntry>> ParseMix(absl::string_view text) {
  std::vector<MixEntry> mix;
  for (absl::string_view part : absl::StrSplit(text, ',', absl::SkipWhitespace())) {
    part = absl::StripAsciiWhitespace(part);
    std::pair<absl::string_view, absl::string_view> name_weight =
        absl::StrSplit(part, absl::MaxSplits(':', 1));
    std::optional<Operation> op;
    for (Operation candidate : kAllOperations) {
      if (OperationName(candidate) == name_weight.first) op = candidate;
    }
    if (!op.has_value()) {
      return Bad("mix", absl::StrCat("unknown operation \"", name_weight.first,
                                     "\" (create, get, list, validate, health)"));
    }
    int weight = 1;
    if (part.find(':') != absl::string_view::npos &&
        (!absl::SimpleAtoi(name_weight.second, &weight) || weight <= 0)) {
      return Bad("mix", absl::StrCat("the weight of ", name_weight.first,
                                     " must be a positive integer"));
    }
    for (const MixEntry& e : mix) {
      if (e.op == *op) return Bad("mix", absl::StrCat(name_weight.first, " appears twice"));
    }
    mix.push_back({*op, weight});
  }
  if (mix.empty()) return Bad("mix", "names no operation");
  return mix;
}

absl::StatusOr<LoadConfig> ParseLoadArgs(const std::vector<std::string>& args) {
  // name → whether it takes a value (false: boolean).
  static const std::map<std::string, bool> kFlags = {
      {"target", true},      {"token", true},         {"mix", true},
      {"concurrency", true}, {"channels", true},      {"duration", true},
      {"calls", true},       {"rate", true},          {"warmup", true},
      {"deadline", true},    {"seed_invitations", true}, {"tenant", true},
      {"email_domain", true}, {"send_email", false},  {"json", false},
      {"json_out", true},    {"watch_streams", true}, {"hold", true}};
  LoadConfig config;
  bool duration_given = false;
  for (size_t i = 0; i < args.size(); ++i) {
    absl::string_view arg = args[i];
    if (!absl::ConsumePrefix(&arg, "--")) {
      return absl::InvalidArgumentError(absl::StrCat("unexpected argument \"", arg,
                                                     "\" (flags are --name=value)"));
    }
    std::pair<std::string, std::string> nv = absl::StrSplit(arg, absl::MaxSplits('=', 1));
    const bool inline_value = arg.find('=') != absl::string_view::npos;
    auto spec = kFlags.find(nv.first);
    if (spec == kFlags.end()) {
      return absl::InvalidArgumentError(absl::StrCat("unknown flag --", nv.first));
    }
    std::string value = nv.second;
    if (spec->second && !inline_value) {
      if (i + 1 >= args.size()) return Bad(nv.first, "needs a value");
      value = args[++i];
    }
    const std::string& name = nv.first;
    if (name == "target") {
      if (value.empty()) return Bad(name, "must not be empty");
      config.target = value;
    } else if (name == "token") {
      config.bearer_token = value;
    } else if (name == "mix") {
      absl::StatusOr<std::vector<MixEntry>> mix = ParseMix(value);
      if (!mix.ok()) return mix.status();
      config.mix = *std::move(mix);
    } else if (name == "concurrency" || name == "channels" || name == "calls" ||
               name == "seed_invitations" || name == "watch_streams") {
      absl::StatusOr<int64_t> n = name == "seed_invitations" ? NonNegativeInt(name, value)
                                                             : PositiveInt(name, value);
      if (!n.ok()) return n.status();
      if (name != "calls" && *n > 100000) return Bad(name, "is unreasonably large");
      if (name == "concurrency") config.concurrency = static_cast<int>(*n);
      if (name == "channels") config.channels = static_cast<int>(*n);
      if (name == "calls") config.calls = *n;
      if (name == "seed_invitations") config.seed_invitations = static_cast<int>(*n);
      if (name == "watch_streams") config.watch_streams = static_cast<int>(*n);
    } else if (name == "duration" || name == "warmup" || name == "deadline" || name == "hold") {
      absl::StatusOr<absl::Duration> d = Duration(name, value, /*allow_zero=*/name == "warmup");
      if (!d.ok()) return d.status();
      if (name == "duration") {
        config.duration = *d;
        duration_given = true;
      }
      if (name == "warmup") config.warmup = *d;
      if (name == "deadline") config.deadline = *d;
      if (name == "hold") config.hold = *d;
    } else if (name == "rate") {
      if (!absl::SimpleAtod(value, &config.rate) || !(config.rate >= 0) ||
          config.rate > 1e7) {
        return Bad(name, "must be a number of calls per second >= 0 (0: unlimited)");
      }
    } else if (name == "tenant") {
      config.tenant_id = value;
    } else if (name == "email_domain") {
      if (value.empty()) return Bad(name, "must not be empty");
      config.email_domain = value;
    } else if (name == "json_out") {
      config.json_out = value;
    } else {  // booleans
      absl::StatusOr<bool> b = Bool(name, value);
      if (!b.ok()) return b.status();
      if (name == "send_email") config.send_email = *b;
      if (name == "json") config.json = *b;
    }
  }
  if (duration_given && config.calls.has_value()) {
    return absl::InvalidArgumentError("give --duration or --calls, not both");
  }
  if (config.channels > config.concurrency) {
    return Bad("channels", "must not exceed --concurrency");
  }
  return config;
}

std::string LoadUsage() {
  return R"(invitations_load: drives load at an invitation server and reports throughput and latency.

  --target=HOST:PORT        server (default 127.0.0.1:50051)
  --token=JWT               bearer token for the admin RPCs (default: none)
  --mix=OP[:W],...          operations and weights: create, get, list, validate, health
                            (default create; e.g. create:1,get:8,list:1)
  --concurrency=N           callers, one call in flight each (default 16)
  --channels=N              gRPC connections shared by the callers (default 1)
  --duration=D | --calls=N  length of the measured phase (default 10s)
  --rate=R                  total calls/s, 0 = unlimited (default 0); latency then counts from
                            each call's scheduled start
  --warmup=D                unrecorded calls first (default 2s)
  --deadline=D              per-call deadline (default 10s)
  --seed_invitations=N      invitations created beforehand for get/validate (default 200)
  --tenant=ID               tenant of created invitations (default load)
  --email_domain=DOMAIN     domain of generated addresses (default load.example)
  --send_email              let creates email the invitee (default: suppress_email)
  --watch_streams=N         instead: hold N WatchInvitationEvents streams open for --hold
  --hold=D                  (default 10s), then report how many ended early and why
  --json                    print the report as JSON
  --json_out=FILE           also write the JSON report to FILE
)";
}

}  // namespace securelink::invitations::load
