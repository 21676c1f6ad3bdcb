// What keeping connections to Keycloak alive saves: sequential KeycloakAdminClient calls through
// the stand-in, once with kept-alive connections and once with a new connection per request
// (max_idle_connections = 0), alternating rounds to spread machine noise. Prints the median wall
// time and this process's CPU time per call. Not a test: numbers on a shared machine vary.
//
//   keycloak_client_bench [calls per round, default 100] [rounds, default 7]
#include <sys/resource.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <string>
#include <vector>

#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "server/keycloak/keycloak_admin_client.h"
#include "tests/keycloak/keycloak_standin.h"

namespace {

using ::securelink::invitations::KeycloakAdminClient;
using ::securelink::invitations::KeycloakAdminOptions;
using ::securelink::testing::KeycloakStandin;

absl::Duration CpuTime() {
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  return absl::DurationFromTimeval(usage.ru_utime) + absl::DurationFromTimeval(usage.ru_stime);
}

double Median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

}  // namespace

int main(int argc, char** argv) {
  const int calls = argc > 1 ? std::atoi(argv[1]) : 100;
  const int rounds = argc > 2 ? std::atoi(argv[2]) : 7;
  auto standin = KeycloakStandin::Start();
  if (!standin.ok()) {
    std::fprintf(stderr, "stand-in: %s\n", std::string(standin.status().message()).c_str());
    return 1;
  }
  struct Mode {
    const char* name;
    size_t idle;
    std::unique_ptr<KeycloakAdminClient> client;
    std::vector<double> wall_us, cpu_us;
  };
  std::vector<Mode> modes;
  modes.push_back({"kept-alive connection", 4, nullptr, {}, {}});
  modes.push_back({"new connection per call", 0, nullptr, {}, {}});
  for (Mode& mode : modes) {
    KeycloakAdminOptions options;
    options.base_url = (*standin)->base_url();
    options.client_secret = (*standin)->options().client_secret;
    options.max_idle_connections = mode.idle;
    auto client = KeycloakAdminClient::Create(options);
    if (!client.ok()) return 1;
    mode.client = *std::move(client);
    for (int i = 0; i < 10; ++i) (void)mode.client->FindUserByEmail("warm@example.com");
  }
  for (int round = 0; round < rounds; ++round) {
    for (Mode& mode : modes) {
      const absl::Time start = absl::Now();
      const absl::Duration cpu_start = CpuTime();
      for (int i = 0; i < calls; ++i) {
        if (!mode.client->FindUserByEmail("nobody@example.com").ok()) return 1;
      }
      mode.wall_us.push_back(absl::ToDoubleMicroseconds(absl::Now() - start) / calls);
      mode.cpu_us.push_back(absl::ToDoubleMicroseconds(CpuTime() - cpu_start) / calls);
    }
  }
  for (const Mode& mode : modes) {
    std::printf("%-24s %4d calls x %d rounds: median %7.0f us wall, %5.0f us client CPU per call\n",
                mode.name, calls, rounds, Median(mode.wall_us), Median(mode.cpu_us));
  }
  return 0;
}
