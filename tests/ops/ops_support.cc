#include "tests/ops/ops_support.h"

#include <curl/curl.h>

#include <cstdlib>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "absl/strings/ascii.h"

namespace securelink::testing::ops {
namespace {

size_t Append(char* data, size_t size, size_t n, void* out) {
  static_cast<std::string*>(out)->append(data, size * n);
  return size * n;
}

// Parses `name{a="x",b="y"} value` (label values without escapes, as ours are).
bool ParseLine(absl::string_view line, std::string* name,
               std::map<std::string, std::string>* labels, double* value) {
  if (line.empty() || line[0] == '#') return false;
  labels->clear();
  size_t brace = line.find('{');
  size_t space;
  if (brace != absl::string_view::npos && brace < line.find(' ')) {
    *name = std::string(line.substr(0, brace));
    size_t close = line.find('}', brace);
    if (close == absl::string_view::npos) return false;
    for (absl::string_view pair :
         absl::StrSplit(line.substr(brace + 1, close - brace - 1), ',', absl::SkipEmpty())) {
      size_t eq = pair.find('=');
      if (eq == absl::string_view::npos || pair.size() < eq + 3) return false;
      (*labels)[std::string(pair.substr(0, eq))] =
          std::string(pair.substr(eq + 2, pair.size() - eq - 3));
    }
    space = close + 1;
  } else {
    space = line.find(' ');
    if (space == absl::string_view::npos) return false;
    *name = std::string(line.substr(0, space));
  }
  absl::string_view rest = absl::StripLeadingAsciiWhitespace(line.substr(space));
  rest = rest.substr(0, rest.find(' '));  // drop a timestamp
  return absl::SimpleAtod(rest, value);
}

}  // namespace

absl::StatusOr<std::string> HttpGet(int port, absl::string_view path) {
  CURL* curl = curl_easy_init();
  if (curl == nullptr) return absl::InternalError("curl_easy_init failed");
  std::string body;
  const std::string url = absl::StrCat("http://127.0.0.1:", port, path);
  curl_easy_setopt(curl, CURLOPT_URL, url.c_str());
  curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, &Append);
  curl_easy_setopt(curl, CURLOPT_WRITEDATA, &body);
  curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, 10000L);
  curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
  const CURLcode rc = curl_easy_perform(curl);
  long status = 0;
  curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &status);
  curl_easy_cleanup(curl);
  if (rc != CURLE_OK) return absl::UnavailableError(absl::StrCat(url, ": ", curl_easy_strerror(rc)));
  if (status != 200) return absl::UnavailableError(absl::StrCat(url, ": HTTP ", status));
  return body;
}

std::optional<double> Sample(absl::string_view exposition, absl::string_view name,
                             const std::map<std::string, std::string>& labels) {
  std::string n;
  std::map<std::string, std::string> l;
  double v = 0;
  for (absl::string_view line : absl::StrSplit(exposition, '\n')) {
    if (ParseLine(line, &n, &l, &v) && n == name && l == labels) return v;
  }
  return std::nullopt;
}

std::vector<std::map<std::string, std::string>> LabelSets(absl::string_view exposition,
                                                         absl::string_view name) {
  std::vector<std::map<std::string, std::string>> out;
  std::string n;
  std::map<std::string, std::string> l;
  double v = 0;
  for (absl::string_view line : absl::StrSplit(exposition, '\n')) {
    if (ParseLine(line, &n, &l, &v) && n == name) out.push_back(l);
  }
  return out;
}

std::vector<std::string> LogLines(absl::string_view log) {
  std::vector<std::string> out;
  for (absl::string_view line : absl::StrSplit(log, '\n', absl::SkipEmpty())) {
    if (absl::StartsWith(line, "--- ")) continue;
    out.emplace_back(line);
  }
  return out;
}

}  // namespace securelink::testing::ops
