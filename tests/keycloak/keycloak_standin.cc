#include "tests/keycloak/keycloak_standin.h"

#include <curl/curl.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/strip.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "server/http/libcurl.h"

#ifndef KEYCLOAK_STANDIN_SCRIPT
#error "KEYCLOAK_STANDIN_SCRIPT must name keycloak_standin.py"
#endif

namespace securelink::testing {
namespace {

using json = nlohmann::json;

constexpr char kPython[] = "/usr/bin/python3";

size_t AppendBody(char* data, size_t size, size_t count, void* user) {
  static_cast<std::string*>(user)->append(data, size * count);
  return size * count;
}

size_t AppendHeader(char* data, size_t size, size_t count, void* user) {
  auto* headers = static_cast<std::map<std::string, std::string>*>(user);
  absl::string_view line(data, size * count);
  size_t colon = line.find(':');
  if (colon != absl::string_view::npos) {
    (*headers)[absl::AsciiStrToLower(line.substr(0, colon))] =
        std::string(absl::StripAsciiWhitespace(line.substr(colon + 1)));
  }
  return size * count;
}

// Waits up to `timeout` for the child to exit; returns whether it did.
bool WaitForExit(pid_t pid, absl::Duration timeout) {
  absl::Time deadline = absl::Now() + timeout;
  while (true) {
    int status = 0;
    pid_t r = waitpid(pid, &status, WNOHANG);
    if (r == pid || (r < 0 && errno == ECHILD)) return true;
    if (absl::Now() >= deadline) return false;
    absl::SleepFor(absl::Milliseconds(10));
  }
}

}  // namespace

json KeycloakStandin::Response::Json() const {
  return json::parse(body, nullptr, /*allow_exceptions=*/false);
}

absl::StatusOr<std::unique_ptr<KeycloakStandin>> KeycloakStandin::Start(
    KeycloakStandinOptions options) {
  absl::Status curl = invitations::http::InitLibcurl();
  if (!curl.ok()) return curl;
  const char* tmp = std::getenv("TMPDIR");
  std::string pattern = absl::StrCat(tmp != nullptr && *tmp != '\0' ? tmp : "/tmp",
                                     "/keycloak-standin-XXXXXX");
  if (mkdtemp(pattern.data()) == nullptr) {
    return absl::InternalError(absl::StrCat("mkdtemp: ", std::strerror(errno)));
  }
  std::unique_ptr<KeycloakStandin> standin(new KeycloakStandin(std::move(options), pattern));
  absl::Status launched = standin->Launch(/*port=*/0);
  if (!launched.ok()) return launched;
  return standin;
}

KeycloakStandin::~KeycloakStandin() {
  (void)Stop();
  std::error_code ignored;
  std::filesystem::remove_all(dir_, ignored);
}

std::string KeycloakStandin::base_url() const { return absl::StrCat("http://127.0.0.1:", port_); }

absl::Status KeycloakStandin::Launch(int port) {
  std::vector<std::string> args = {
      kPython,
      KEYCLOAK_STANDIN_SCRIPT,
      "--port",
      absl::StrCat(port),
      "--realm-file",
      options_.realm_file,
      "--realm",
      options_.realm,
      "--client-id",
      options_.client_id,
      "--client-secret",
      options_.client_secret,
      "--token-lifetime",
      absl::StrCat(options_.token_lifetime_seconds),
      "--state-file",
      absl::StrCat(dir_, "/state.json"),
  };
  if (!options_.declared_attributes.empty()) {
    args.insert(args.end(), {"--attributes", absl::StrJoin(options_.declared_attributes, ",")});
  }
  if (!options_.roles.empty()) {
    args.insert(args.end(), {"--roles", absl::StrJoin(options_.roles, ",")});
  }
  if (!options_.password_policy.empty()) {
    args.insert(args.end(), {"--password-policy", options_.password_policy});
  }
  args.insert(args.end(), options_.extra_args.begin(), options_.extra_args.end());

  int pipe_fds[2];
  if (pipe2(pipe_fds, O_CLOEXEC) != 0) {
    return absl::InternalError(absl::StrCat("pipe2: ", std::strerror(errno)));
  }
  std::vector<char*> argv;
  for (std::string& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  const pid_t parent = getpid();

  pid_t pid = fork();
  if (pid < 0) {
    close(pipe_fds[0]);
    close(pipe_fds[1]);
    return absl::InternalError(absl::StrCat("fork: ", std::strerror(errno)));
  }
  if (pid == 0) {
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (getppid() != parent) _exit(1);  // the parent died before prctl
    dup2(pipe_fds[1], STDOUT_FILENO);   // dup2 clears O_CLOEXEC on the copy
    execv(kPython, argv.data());
    _exit(127);
  }
  close(pipe_fds[1]);
  pid_ = pid;
  stdout_fd_ = pipe_fds[0];

  // Read "LISTENING <port>\n".
  std::string out;
  absl::Time deadline = absl::Now() + absl::Seconds(20);
  while (!absl::StrContains(out, "\n")) {
    int remaining = static_cast<int>(absl::ToInt64Milliseconds(deadline - absl::Now()));
    if (remaining <= 0) break;
    pollfd pfd{stdout_fd_, POLLIN, 0};
    int r = poll(&pfd, 1, remaining);
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) break;
    char buf[256];
    ssize_t n = read(stdout_fd_, buf, sizeof(buf));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;  // EOF: the child exited
    out.append(buf, static_cast<size_t>(n));
  }
  absl::string_view line = out;
  int parsed = 0;
  if (absl::ConsumePrefix(&line, "LISTENING ") &&
      absl::SimpleAtoi(absl::StripAsciiWhitespace(line.substr(0, line.find('\n'))), &parsed) &&
      parsed > 0) {
    port_ = parsed;
    return absl::OkStatus();
  }
  (void)Stop();
  return absl::InternalError(absl::StrCat(
      "keycloak_standin.py did not report LISTENING within 20 s (stdout: '", out,
      "'); see its stderr above"));
}

absl::Status KeycloakStandin::Stop() {
  if (pid_ > 0) {
    kill(pid_, SIGTERM);
    if (!WaitForExit(pid_, absl::Seconds(5))) {
      kill(pid_, SIGKILL);
      WaitForExit(pid_, absl::Seconds(5));
    }
    pid_ = -1;
  }
  if (stdout_fd_ >= 0) {
    close(stdout_fd_);
    stdout_fd_ = -1;
  }
  return absl::OkStatus();
}

absl::Status KeycloakStandin::StartAgain() {
  if (pid_ > 0) return absl::FailedPreconditionError("the stand-in is still running");
  int port = port_;
  absl::Status status = Launch(port);
  if (status.ok() && port_ != port) {
    return absl::InternalError("the stand-in came back on another port");
  }
  return status;
}

absl::StatusOr<KeycloakStandin::Response> KeycloakStandin::Http(
    absl::string_view method, absl::string_view path_and_query, absl::string_view body,
    absl::string_view content_type, const std::vector<std::string>& headers) const {
  std::unique_ptr<CURL, decltype(&curl_easy_cleanup)> handle(curl_easy_init(),
                                                             &curl_easy_cleanup);
  if (handle == nullptr) return absl::InternalError("curl_easy_init failed");
  CURL* h = handle.get();
  Response response;
  std::string url = absl::StrCat(base_url(), path_and_query);
  std::string method_str(method);
  std::string body_str(body);
  curl_slist* list = curl_slist_append(nullptr, "Expect:");
  std::string ctype = absl::StrCat("Content-Type: ", content_type);
  if (!body.empty()) list = curl_slist_append(list, ctype.c_str());
  for (const std::string& header : headers) list = curl_slist_append(list, header.c_str());
  std::unique_ptr<curl_slist, decltype(&curl_slist_free_all)> header_list(list,
                                                                          &curl_slist_free_all);
  curl_easy_setopt(h, CURLOPT_URL, url.c_str());
  curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, 30000L);
  curl_easy_setopt(h, CURLOPT_HTTPHEADER, header_list.get());
  curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, &AppendBody);
  curl_easy_setopt(h, CURLOPT_WRITEDATA, &response.body);
  curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, &AppendHeader);
  curl_easy_setopt(h, CURLOPT_HEADERDATA, &response.headers);
  if (method_str == "GET") {
    curl_easy_setopt(h, CURLOPT_HTTPGET, 1L);
  } else {
    curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, method_str.c_str());
    curl_easy_setopt(h, CURLOPT_POSTFIELDS, body_str.c_str());
    curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(body_str.size()));
  }
  CURLcode rc = curl_easy_perform(h);
  if (rc != CURLE_OK) {
    return absl::UnavailableError(absl::StrCat(method, " ", url, ": ", curl_easy_strerror(rc)));
  }
  curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &response.status);
  return response;
}

absl::StatusOr<std::string> KeycloakStandin::ServiceAccountToken() const {
  std::unique_ptr<CURL, decltype(&curl_easy_cleanup)> h(curl_easy_init(), &curl_easy_cleanup);
  auto escape = [&](const std::string& s) {
    char* e = curl_easy_escape(h.get(), s.c_str(), static_cast<int>(s.size()));
    std::string out(e);
    curl_free(e);
    return out;
  };
  absl::StatusOr<Response> r =
      Http("POST", absl::StrCat("/realms/", options_.realm, "/protocol/openid-connect/token"),
           absl::StrCat("grant_type=client_credentials&client_id=", escape(options_.client_id),
                        "&client_secret=", escape(options_.client_secret)),
           "application/x-www-form-urlencoded");
  if (!r.ok()) return r.status();
  json j = r->Json();
  if (r->status != 200 || !j.is_object() || !j.contains("access_token")) {
    return absl::InternalError(absl::StrCat("token endpoint: HTTP ", r->status, " ", r->body));
  }
  return j["access_token"].get<std::string>();
}

absl::StatusOr<json> KeycloakStandin::GetJson(absl::string_view path) const {
  absl::StatusOr<Response> r = Http("GET", path);
  if (!r.ok()) return r.status();
  json j = r->Json();
  if (r->status != 200 || j.is_discarded()) {
    return absl::InternalError(absl::StrCat("GET ", path, ": HTTP ", r->status, " ", r->body));
  }
  return j;
}

absl::Status KeycloakStandin::PostJson(absl::string_view path, const json& body) const {
  absl::StatusOr<Response> r = Http("POST", path, body.dump());
  if (!r.ok()) return r.status();
  if (r->status != 200) {
    return absl::InternalError(absl::StrCat("POST ", path, ": HTTP ", r->status, " ", r->body));
  }
  return absl::OkStatus();
}

absl::Status KeycloakStandin::InjectFault(const json& fault) const {
  return PostJson("/_standin/faults", fault);
}

absl::Status KeycloakStandin::ClearFaults() const {
  absl::StatusOr<Response> r = Http("DELETE", "/_standin/faults");
  if (!r.ok()) return r.status();
  return r->status == 200 ? absl::OkStatus() : absl::InternalError(r->body);
}

long KeycloakStandin::HeldRequests() const {
  absl::StatusOr<json> held = GetJson("/_standin/held");
  if (!held.ok() || !held->contains("held")) return -1;
  return (*held)["held"].get<long>();
}

absl::Status KeycloakStandin::ReleaseHeld() const {
  return PostJson("/_standin/release", json::object());
}

absl::Status KeycloakStandin::RevokeTokens() const {
  return PostJson("/_standin/revoke_tokens", json::object());
}

absl::Status KeycloakStandin::Configure(const json& changes) const {
  return PostJson("/_standin/config", changes);
}

absl::Status KeycloakStandin::Reset() const { return PostJson("/_standin/reset", json::object()); }

absl::StatusOr<json> KeycloakStandin::Users() const { return GetJson("/_standin/users"); }
absl::StatusOr<json> KeycloakStandin::Stats() const { return GetJson("/_standin/stats"); }
absl::StatusOr<json> KeycloakStandin::Requests() const { return GetJson("/_standin/requests"); }

long KeycloakStandin::Stat(absl::string_view name) const {
  absl::StatusOr<json> stats = Stats();
  if (!stats.ok() || !stats->contains(std::string(name))) return -1;
  return (*stats)[std::string(name)].get<long>();
}

}  // namespace securelink::testing
