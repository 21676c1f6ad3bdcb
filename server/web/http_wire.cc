#include "server/web/http_wire.h"

#include <algorithm>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"

namespace securelink::invitations::web {
namespace {

bool IsTokenChar(char c) {
  return absl::ascii_isalnum(static_cast<unsigned char>(c)) ||
         absl::string_view("!#$%&'*+-.^_`|~").find(c) != absl::string_view::npos;
}

bool IsToken(absl::string_view s) {
  if (s.empty()) return false;
  for (char c : s) {
    if (!IsTokenChar(c)) return false;
  }
  return true;
}

int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// Percent-decodes a path; a '%' not followed by two hex digits stays as it is. nullopt for an
// encoded NUL, which no path of ours contains and which only confuses what reads it later.
std::optional<std::string> DecodePath(absl::string_view in) {
  std::string out;
  out.reserve(in.size());
  for (size_t i = 0; i < in.size(); ++i) {
    if (in[i] == '%' && i + 2 < in.size() && HexValue(in[i + 1]) >= 0 &&
        HexValue(in[i + 2]) >= 0) {
      const char c = static_cast<char>(HexValue(in[i + 1]) * 16 + HexValue(in[i + 2]));
      if (c == '\0') return std::nullopt;
      out.push_back(c);
      i += 2;
    } else {
      out.push_back(in[i]);
    }
  }
  return out;
}

ParsedHead Refuse(int status, absl::string_view why) {
  ParsedHead result;
  result.error_status = status;
  result.error = std::string(why);
  return result;
}

bool HasToken(absl::string_view list, absl::string_view token) {
  for (absl::string_view item : absl::StrSplit(list, ',')) {
    if (absl::EqualsIgnoreCase(absl::StripAsciiWhitespace(item), token)) return true;
  }
  return false;
}

bool IsFramingHeader(absl::string_view name) {
  return absl::EqualsIgnoreCase(name, "content-length") ||
         absl::EqualsIgnoreCase(name, "transfer-encoding") ||
         absl::EqualsIgnoreCase(name, "connection") || absl::EqualsIgnoreCase(name, "date");
}

}  // namespace

size_t FindHeadEnd(absl::string_view buffer, size_t& scan_from) {
  size_t i = scan_from;
  while ((i = buffer.find('\n', i)) != absl::string_view::npos) {
    if (i + 1 >= buffer.size()) break;
    if (buffer[i + 1] == '\n') return i + 2;
    if (buffer[i + 1] == '\r') {
      if (i + 2 >= buffer.size()) break;
      if (buffer[i + 2] == '\n') return i + 3;
    }
    ++i;
  }
  // Resume at the last newline seen: the empty line may still follow it.
  scan_from = i == absl::string_view::npos ? buffer.size() : i;
  return absl::string_view::npos;
}

ParsedHead ParseRequestHead(absl::string_view head, size_t max_headers) {
  std::vector<absl::string_view> lines = absl::StrSplit(head, '\n');
  for (absl::string_view& line : lines) absl::ConsumeSuffix(&line, "\r");
  while (!lines.empty() && lines.back().empty()) lines.pop_back();
  if (lines.empty()) return Refuse(400, "empty request");

  // request-line = method SP request-target SP HTTP-version
  const std::vector<absl::string_view> parts = absl::StrSplit(lines[0], ' ');
  if (parts.size() != 3 || !IsToken(parts[0]) || parts[1].empty()) {
    return Refuse(400, "malformed request line");
  }
  RequestHead h;
  h.method = std::string(parts[0]);
  absl::string_view version = parts[2];
  if (version == "HTTP/1.1") {
    h.minor_version = 1;
  } else if (version == "HTTP/1.0") {
    h.minor_version = 0;
  } else if (version.size() == 8 && absl::StartsWith(version, "HTTP/") &&
             absl::ascii_isdigit(version[5]) && version[6] == '.' &&
             absl::ascii_isdigit(version[7])) {
    return Refuse(505, "only HTTP/1.0 and HTTP/1.1 are served");
  } else {
    return Refuse(400, "malformed HTTP version");
  }
  absl::string_view target = parts[1];
  for (char c : target) {
    const auto u = static_cast<unsigned char>(c);
    if (u < 0x21 || u == 0x7f) return Refuse(400, "control character in the request target");
  }
  // absolute-form (what a client talking to a proxy sends) names the same resource.
  if (absl::StartsWithIgnoreCase(target, "http://") ||
      absl::StartsWithIgnoreCase(target, "https://")) {
    const size_t authority = target.find("//") + 2;
    const size_t path_start = target.find_first_of("/?", authority);
    target = path_start == absl::string_view::npos ? absl::string_view("/")
                                                   : target.substr(path_start);
  }
  if (const size_t hash = target.find('#'); hash != absl::string_view::npos) {
    target = target.substr(0, hash);
  }
  absl::string_view raw_path = target;
  if (const size_t q = target.find('?'); q != absl::string_view::npos) {
    raw_path = target.substr(0, q);
    h.query = std::string(target.substr(q + 1));
  }
  if (raw_path.empty()) raw_path = "/";
  if (raw_path != "*" && raw_path.front() != '/') return Refuse(400, "malformed request target");
  std::optional<std::string> path = DecodePath(raw_path);
  if (!path.has_value()) return Refuse(400, "malformed request target");
  h.path = *std::move(path);

  if (lines.size() - 1 > max_headers) return Refuse(431, "too many header fields");
  int hosts = 0;
  bool have_length = false;
  bool transfer_encoding = false;
  std::string connection;
  for (size_t i = 1; i < lines.size(); ++i) {
    absl::string_view line = lines[i];
    if (line.empty()) return Refuse(400, "malformed header section");
    if (line.front() == ' ' || line.front() == '\t') {
      return Refuse(400, "obsolete header line folding");
    }
    const size_t colon = line.find(':');
    if (colon == absl::string_view::npos || !IsToken(line.substr(0, colon))) {
      return Refuse(400, "malformed header field");
    }
    std::string name = absl::AsciiStrToLower(line.substr(0, colon));
    absl::string_view value = line.substr(colon + 1);
    while (!value.empty() && (value.front() == ' ' || value.front() == '\t')) {
      value.remove_prefix(1);
    }
    while (!value.empty() && (value.back() == ' ' || value.back() == '\t')) {
      value.remove_suffix(1);
    }
    for (char c : value) {
      const auto u = static_cast<unsigned char>(c);
      if ((u < 0x20 && c != '\t') || u == 0x7f) {
        return Refuse(400, "control character in a header field");
      }
    }
    if (name == "host") {
      ++hosts;
    } else if (name == "content-length") {
      for (absl::string_view item : absl::StrSplit(value, ',')) {
        item = absl::StripAsciiWhitespace(item);
        size_t length = 0;
        if (item.empty() || item.size() > 15 || !std::all_of(item.begin(), item.end(), [](char c) {
              return absl::ascii_isdigit(static_cast<unsigned char>(c));
            }) || !absl::SimpleAtoi(item, &length)) {
          return Refuse(400, "malformed Content-Length");
        }
        if (have_length && length != h.content_length) {
          return Refuse(400, "conflicting Content-Length values");
        }
        h.content_length = length;
        have_length = true;
      }
    } else if (name == "transfer-encoding") {
      transfer_encoding = true;
    } else if (name == "connection") {
      absl::StrAppend(&connection, connection.empty() ? "" : ",", value);
    } else if (name == "expect") {
      if (!absl::EqualsIgnoreCase(value, "100-continue")) {
        return Refuse(417, "only Expect: 100-continue is understood");
      }
      h.expect_continue = h.minor_version >= 1;
    }
    h.headers.emplace_back(std::move(name), std::string(value));
  }
  if (transfer_encoding) {
    // Both framings at once is the request-smuggling shape; a lone chunked body is merely
    // unsupported (browsers send Content-Length with a form).
    if (have_length) return Refuse(400, "both Transfer-Encoding and Content-Length");
    return Refuse(411, "request bodies must carry a Content-Length");
  }
  if (h.minor_version >= 1 && hosts != 1) {
    return Refuse(400, hosts == 0 ? "missing Host header" : "more than one Host header");
  }
  h.keep_alive = h.minor_version >= 1 ? !HasToken(connection, "close")
                                      : HasToken(connection, "keep-alive") &&
                                            !HasToken(connection, "close");
  ParsedHead result;
  result.head = std::move(h);
  return result;
}

absl::string_view ReasonPhrase(int status) {
  switch (status) {
    case 100: return "Continue";
    case 200: return "OK";
    case 201: return "Created";
    case 204: return "No Content";
    case 301: return "Moved Permanently";
    case 302: return "Found";
    case 303: return "See Other";
    case 304: return "Not Modified";
    case 307: return "Temporary Redirect";
    case 308: return "Permanent Redirect";
    case 400: return "Bad Request";
    case 401: return "Unauthorized";
    case 403: return "Forbidden";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 408: return "Request Timeout";
    case 409: return "Conflict";
    case 410: return "Gone";
    case 411: return "Length Required";
    case 413: return "Content Too Large";
    case 414: return "URI Too Long";
    case 415: return "Unsupported Media Type";
    case 417: return "Expectation Failed";
    case 429: return "Too Many Requests";
    case 431: return "Request Header Fields Too Large";
    case 500: return "Internal Server Error";
    case 501: return "Not Implemented";
    case 502: return "Bad Gateway";
    case 503: return "Service Unavailable";
    case 504: return "Gateway Timeout";
    case 505: return "HTTP Version Not Supported";
    default: return "Unknown";
  }
}

std::string SerializeResponse(const HttpResponse& response, bool head_only, bool keep_alive,
                              int minor_version, absl::Time now) {
  // 1xx, 204 and 304 have no body by definition (RFC 9110 §6.4.1).
  const bool bodiless = response.status < 200 || response.status == 204 || response.status == 304;
  std::string out = absl::StrCat("HTTP/1.1 ", response.status, " ", ReasonPhrase(response.status),
                                 "\r\nDate: ",
                                 absl::FormatTime("%a, %d %b %Y %H:%M:%S GMT", now,
                                                  absl::UTCTimeZone()),
                                 "\r\n");
  for (const auto& [name, value] : response.headers) {
    if (IsFramingHeader(name) || !IsToken(name) ||
        value.find_first_of("\r\n") != std::string::npos) {
      continue;
    }
    absl::StrAppend(&out, name, ": ", value, "\r\n");
  }
  if (!bodiless) absl::StrAppend(&out, "Content-Length: ", response.body.size(), "\r\n");
  if (!keep_alive) {
    out += "Connection: close\r\n";
  } else if (minor_version == 0) {
    out += "Connection: keep-alive\r\n";
  }
  out += "\r\n";
  if (!head_only && !bodiless) out += response.body;
  return out;
}

HttpResponse PlainResponse(int status, absl::string_view message) {
  HttpResponse response;
  response.status = status;
  response.headers = {{"Content-Type", "text/plain; charset=utf-8"},
                      {"X-Content-Type-Options", "nosniff"},
                      {"Cache-Control", "no-store"}};
  response.body = absl::StrCat(message, "\n");
  return response;
}

}  // namespace securelink::invitations::web
