// invitations_load's settings and their command line: which RPCs in which proportion, how many
// callers, for how long or how many calls, at what rate. Pure functions: no I/O, no gRPC.
#ifndef SECURELINK_CLIENT_LOAD_LOAD_CONFIG_H_
#define SECURELINK_CLIENT_LOAD_LOAD_CONFIG_H_

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"

namespace securelink::invitations::load {

// The calls the tool can issue. kHealth is grpc.health.v1.Health/Check: a no-op on the same
// server stack (transport, interceptors, gRPC threads) that touches no database, the baseline
// the benchmark compares GetInvitation with.
enum class Operation { kCreate, kGet, kList, kValidate, kHealth };

// "create", "get", "list", "validate", "health".
absl::string_view OperationName(Operation op);

// One operation and its relative weight in the mix.
struct MixEntry {
  Operation op;
  int weight = 1;
};

// Parses "create:1,get:8,list:1" (a missing weight is 1; weights are positive integers; each
// operation at most once). INVALID_ARGUMENT naming the bad part otherwise.
absl::StatusOr<std::vector<MixEntry>> ParseMix(absl::string_view text);

struct LoadConfig {
  std::string target = "127.0.0.1:50051";
  std::string bearer_token;  // sent as `authorization: Bearer …` when non-empty; never printed
  std::vector<MixEntry> mix = {{Operation::kCreate, 1}};
  int concurrency = 16;   // callers, each with one call in flight
  int channels = 1;       // gRPC channels (TCP connections) the callers share round-robin
  // The measured phase ends after `duration`, or after `calls` calls when set (whichever the
  // user chose; exactly one is in effect).
  absl::Duration duration = absl::Seconds(10);
  std::optional<int64_t> calls;
  // Total calls per second over all callers; 0 means as fast as the callers go (closed loop).
  // With a rate, latency counts from each call's scheduled start, so a slow server cannot hide
  // its queueing by slowing the caller down (coordinated omission).
  double rate = 0;
  absl::Duration warmup = absl::Seconds(2);  // calls made first and not recorded
  absl::Duration deadline = absl::Seconds(10);
  // Invitations created before the run for get/validate to read (not measured).
  int seed_invitations = 200;
  std::string tenant_id = "load";
  std::string email_domain = "load.example";
  bool send_email = false;  // creates set suppress_email unless this is true
  // Instead of calls: open this many WatchInvitationEvents streams (one thread each), say so on
  // stderr ("holding N streams"), keep them open for `hold`, then cancel them and report how
  // many ended early and with which codes. For measuring the server's memory per stream.
  int watch_streams = 0;
  absl::Duration hold = absl::Seconds(10);
  bool json = false;        // print JSON instead of text
  std::string json_out;     // also write the JSON report to this file
};

// Parses argv without the program name: `--name=value` or `--name value`, booleans as `--json`
// or `--json=false`. Durations use absl syntax ("30s", "500ms"). INVALID_ARGUMENT with a message
// for the user on unknown flags, bad values, or contradictions (both --duration and --calls).
// `--help` is main's to spot before calling this (it prints LoadUsage()).
absl::StatusOr<LoadConfig> ParseLoadArgs(const std::vector<std::string>& args);

// The usage text (--help).
std::string LoadUsage();

}  // namespace securelink::invitations::load

#endif  // SECURELINK_CLIENT_LOAD_LOAD_CONFIG_H_
