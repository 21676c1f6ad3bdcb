// The token sources: a file re-read when it changes, and the client-credentials grant over
// libcurl. Both keep their cache under a mutex; a refresh happens under it too, so concurrent
// calls wait for one fetch instead of each making its own.
#include "securelink/invitations/token_sources.h"

#include <curl/curl.h>
#include <sys/stat.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <memory>
#include <optional>
#include <sstream>
#include <utility>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "nlohmann/json.hpp"

namespace securelink::invitations::client {
namespace {

// What identifies one version of a file: a rename over it changes the inode, an in-place write
// the size or the modification time (nanoseconds on the file systems this runs on).
struct FileVersion {
  ino_t inode = 0;
  off_t size = 0;
  timespec modified{};
  bool operator==(const FileVersion& o) const {
    return inode == o.inode && size == o.size && modified.tv_sec == o.modified.tv_sec &&
           modified.tv_nsec == o.modified.tv_nsec;
  }
};

class FileTokenSource {
 public:
  explicit FileTokenSource(std::string path) : path_(std::move(path)) {}

  absl::StatusOr<std::string> Token() {
    struct stat st {};
    if (stat(path_.c_str(), &st) != 0) {
      return absl::UnauthenticatedError(
          absl::StrCat("cannot read the token file ", path_, ": ", std::strerror(errno)));
    }
    const FileVersion version{st.st_ino, st.st_size, st.st_mtim};
    absl::MutexLock lock(&mu_);
    if (version_.has_value() && *version_ == version) return token_;
    std::ifstream in(path_, std::ios::binary);
    std::stringstream text;
    text << in.rdbuf();
    if (!in) {
      return absl::UnauthenticatedError(absl::StrCat("cannot read the token file ", path_));
    }
    std::string token(absl::StripAsciiWhitespace(text.str()));
    if (token.empty()) {
      return absl::UnauthenticatedError(absl::StrCat("the token file ", path_, " is empty"));
    }
    token_ = std::move(token);
    version_ = version;
    return token_;
  }

 private:
  const std::string path_;
  absl::Mutex mu_;
  std::optional<FileVersion> version_ ABSL_GUARDED_BY(mu_);
  std::string token_ ABSL_GUARDED_BY(mu_);
};

size_t AppendBody(char* data, size_t size, size_t count, void* body) {
  static_cast<std::string*>(body)->append(data, size * count);
  return size * count;
}

struct CurlDeleter {
  void operator()(CURL* curl) const { curl_easy_cleanup(curl); }
};

std::string FormEncoded(CURL* curl, absl::string_view value) {
  char* escaped = curl_easy_escape(curl, value.data(), static_cast<int>(value.size()));
  std::string out = escaped != nullptr ? escaped : "";
  curl_free(escaped);
  return out;
}

struct IssuedToken {
  std::string access_token;
  absl::Time refresh_at;
  absl::Time expires_at;
};

class ClientCredentialsTokenSource {
 public:
  explicit ClientCredentialsTokenSource(ClientCredentialsOptions options)
      : options_(std::move(options)) {}

  absl::StatusOr<std::string> Token() {
    absl::MutexLock lock(&mu_);
    const absl::Time now = absl::Now();
    if (cached_.has_value() && now < cached_->refresh_at) return cached_->access_token;
    absl::StatusOr<IssuedToken> fresh = Fetch(now);
    if (fresh.ok()) {
      cached_ = *std::move(fresh);
      return cached_->access_token;
    }
    // Ahead of expiry a failed refresh costs nothing yet: the next call tries again.
    if (cached_.has_value() && absl::Now() < cached_->expires_at) return cached_->access_token;
    return fresh.status();
  }

 private:
  absl::StatusOr<IssuedToken> Fetch(absl::Time now) const {
    std::unique_ptr<CURL, CurlDeleter> curl(curl_easy_init());
    if (curl == nullptr) return absl::InternalError("cannot initialise libcurl");
    std::string form = absl::StrCat("grant_type=client_credentials&client_id=",
                                    FormEncoded(curl.get(), options_.client_id),
                                    "&client_secret=", FormEncoded(curl.get(), options_.client_secret));
    if (!options_.scope.empty()) {
      absl::StrAppend(&form, "&scope=", FormEncoded(curl.get(), options_.scope));
    }
    std::string body;
    char error[CURL_ERROR_SIZE] = {0};
    curl_easy_setopt(curl.get(), CURLOPT_URL, options_.token_url.c_str());
    curl_easy_setopt(curl.get(), CURLOPT_POSTFIELDS, form.c_str());
    curl_easy_setopt(curl.get(), CURLOPT_POSTFIELDSIZE, static_cast<long>(form.size()));
    curl_easy_setopt(curl.get(), CURLOPT_WRITEFUNCTION, &AppendBody);
    curl_easy_setopt(curl.get(), CURLOPT_WRITEDATA, &body);
    curl_easy_setopt(curl.get(), CURLOPT_ERRORBUFFER, error);
    curl_easy_setopt(curl.get(), CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(curl.get(), CURLOPT_TIMEOUT_MS,
                     static_cast<long>(std::max<int64_t>(1, absl::ToInt64Milliseconds(options_.timeout))));
    curl_easy_setopt(curl.get(), CURLOPT_PROTOCOLS_STR, "http,https");
    if (!options_.ca_file.empty()) curl_easy_setopt(curl.get(), CURLOPT_CAINFO, options_.ca_file.c_str());
    const CURLcode code = curl_easy_perform(curl.get());
    // The form (with the secret) is no longer needed; do not leave it in freed memory.
    std::fill(form.begin(), form.end(), '\0');
    if (code != CURLE_OK) {
      return absl::UnavailableError(absl::StrCat("cannot reach the token endpoint ",
                                                 options_.token_url, ": ",
                                                 error[0] != '\0' ? error : curl_easy_strerror(code)));
    }
    long status = 0;
    curl_easy_getinfo(curl.get(), CURLINFO_RESPONSE_CODE, &status);
    const nlohmann::json answer = nlohmann::json::parse(body, nullptr, /*allow_exceptions=*/false);
    if (status != 200) {
      std::string why;
      if (answer.is_object()) {
        why = answer.value("error", "");
        if (const std::string d = answer.value("error_description", ""); !d.empty()) {
          absl::StrAppend(&why, " (", d, ")");
        }
      }
      const std::string message =
          absl::StrCat("the token endpoint ", options_.token_url, " answered HTTP ", status,
                       why.empty() ? "" : ": ", why);
      if (status == 400 || status == 401) return absl::UnauthenticatedError(message);
      return absl::UnavailableError(message);
    }
    if (!answer.is_object() || !answer.contains("access_token") ||
        !answer["access_token"].is_string() || answer["access_token"].get<std::string>().empty()) {
      return absl::UnavailableError(absl::StrCat("the token endpoint ", options_.token_url,
                                                 " answered without an access_token"));
    }
    IssuedToken issued;
    issued.access_token = answer["access_token"].get<std::string>();
    // Without expires_in (optional in RFC 6749) the token is assumed to live a minute.
    const int64_t lifetime_s = answer.contains("expires_in") && answer["expires_in"].is_number()
                                   ? answer["expires_in"].get<int64_t>()
                                   : 60;
    const absl::Duration lifetime = absl::Seconds(std::max<int64_t>(0, lifetime_s));
    issued.expires_at = now + lifetime;
    // A margin as long as the lifetime would fetch on every call: each token serves at least
    // half its life.
    issued.refresh_at = now + std::max(lifetime - options_.refresh_before_expiry, lifetime / 2);
    return issued;
  }

  const ClientCredentialsOptions options_;
  absl::Mutex mu_;
  std::optional<IssuedToken> cached_ ABSL_GUARDED_BY(mu_);
};

}  // namespace

TokenSource TokenFile(std::string path) {
  auto source = std::make_shared<FileTokenSource>(std::move(path));
  return [source] { return source->Token(); };
}

TokenSource ClientCredentialsToken(ClientCredentialsOptions options) {
  auto source = std::make_shared<ClientCredentialsTokenSource>(std::move(options));
  return [source] { return source->Token(); };
}

}  // namespace securelink::invitations::client
