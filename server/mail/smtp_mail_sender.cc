#include "server/mail/smtp_mail_sender.h"

#include <curl/curl.h>

#include <algorithm>
#include <memory>
#include <string>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "server/http/libcurl.h"
#include "server/mail/mime.h"
#include "server/util/log.h"
#include "server/util/status_macros.h"

namespace securelink::invitations::mail {
namespace {

// Enough of a relay's reply to explain a failure; a longer one is cut.
constexpr size_t kMaxReplyLength = 512;

// The SMTP commands whose verb may be remembered. Anything else the client sends is an AUTH
// continuation line (base64 credentials) and is never looked at.
bool IsSmtpVerb(absl::string_view word) {
  for (absl::string_view verb :
       {"EHLO", "HELO", "STARTTLS", "AUTH", "MAIL", "RCPT", "DATA", "RSET", "QUIT", "NOOP"}) {
    if (word == verb) return true;
  }
  return false;
}

// What the relay last said and what was last asked of it, collected from curl's debug callback.
struct Transcript {
  std::string last_reply;    // the last complete reply, lines joined by " ", cleaned
  std::string last_command;  // verb of the last command sent ("RCPT"), "" before the first

  void OnReplyBytes(absl::string_view bytes) {
    if (closing_) return;
    pending_.append(bytes.data(), bytes.size());
    size_t eol;
    while ((eol = pending_.find('\n')) != std::string::npos) {
      std::string line(absl::StripTrailingAsciiWhitespace(pending_.substr(0, eol)));
      pending_.erase(0, eol + 1);
      // "550-first line" continues, "550 last line" ends a reply (RFC 5321 §4.2.1). Kept as
      // "550 first line last line".
      const bool continues = line.size() > 3 && line[3] == '-';
      if (reply_.empty()) {
        reply_ = continues ? line.substr(0, 3) + " " + line.substr(4) : line;
      } else if (line.size() > 4) {
        absl::StrAppend(&reply_, " ", line.substr(4));
      }
      if (!continues) {
        last_reply = CleanDisplayText(reply_, kMaxReplyLength);
        reply_.clear();
      }
    }
  }

  void OnCommandBytes(absl::string_view bytes) {
    const absl::string_view word = bytes.substr(0, bytes.find_first_of(" \r\n"));
    const std::string verb = absl::AsciiStrToUpper(word);
    // After a failure curl still says QUIT; the failure, not the "221 Bye", is what matters.
    if (verb == "QUIT") closing_ = true;
    if (IsSmtpVerb(verb) && !closing_) last_command = verb;
  }

 private:
  std::string pending_;  // received bytes not yet ending in a newline
  std::string reply_;    // lines so far of an unfinished multi-line reply
  bool closing_ = false;  // QUIT sent: the rest of the conversation is not recorded
};

int DebugCallback(CURL*, curl_infotype type, char* data, size_t size, void* user) {
  auto* transcript = static_cast<Transcript*>(user);
  if (type == CURLINFO_HEADER_IN) transcript->OnReplyBytes(absl::string_view(data, size));
  if (type == CURLINFO_HEADER_OUT) transcript->OnCommandBytes(absl::string_view(data, size));
  return 0;
}

// The message being uploaded, read by curl in chunks.
struct Upload {
  absl::string_view data;
  size_t offset = 0;
};

size_t ReadCallback(char* buffer, size_t size, size_t count, void* user) {
  auto* upload = static_cast<Upload*>(user);
  const size_t n = std::min(size * count, upload->data.size() - upload->offset);
  std::copy_n(upload->data.data() + upload->offset, n, buffer);
  upload->offset += n;
  return n;
}

struct EasyDeleter {
  void operator()(CURL* curl) const { curl_easy_cleanup(curl); }
};
struct SlistDeleter {
  void operator()(curl_slist* list) const { curl_slist_free_all(list); }
};
struct UrlDeleter {
  void operator()(CURLU* url) const { curl_url_cleanup(url); }
};

// Where in the conversation a transfer stopped, for messages.
std::string PhaseName(const Transcript& transcript) {
  const absl::string_view verb = transcript.last_command;
  if (verb == "MAIL") return "MAIL FROM";
  if (verb == "RCPT") return "RCPT TO";
  if (verb == "DATA") return "the message data";
  if (verb.empty()) return transcript.last_reply.empty() ? "connect" : "the greeting";
  return std::string(verb);
}

// Whether a failed transfer is the relay permanently refusing this message.
bool IsPermanentRejection(long reply_code, absl::string_view last_command) {
  if (reply_code < 500 || reply_code > 599) return false;
  // Relay configuration problems, not this message's: retrying after the operator fixes them
  // delivers the mail.
  if (reply_code == 530 || reply_code == 538) return false;
  return last_command == "MAIL" || last_command == "RCPT" || last_command == "DATA";
}

std::string Millis(absl::Duration d) { return absl::StrCat(absl::ToInt64Milliseconds(d), " ms"); }

}  // namespace

absl::StatusOr<std::unique_ptr<SmtpMailSender>> SmtpMailSender::Create(SmtpOptions options) {
  RETURN_IF_ERROR(http::InitLibcurl());
  const curl_version_info_data* version = curl_version_info(CURLVERSION_NOW);
  bool has_smtp = false;
  bool has_smtps = false;
  for (const char* const* p = version->protocols; p != nullptr && *p != nullptr; ++p) {
    has_smtp |= absl::string_view(*p) == "smtp";
    has_smtps |= absl::string_view(*p) == "smtps";
  }

  std::unique_ptr<CURLU, UrlDeleter> url(curl_url());
  if (url == nullptr) return absl::ResourceExhaustedError("curl_url: out of memory");
  if (curl_url_set(url.get(), CURLUPART_URL, options.url.c_str(), 0) != CURLUE_OK) {
    return absl::InvalidArgumentError(
        "smtp_url: not a URL; expected smtp://host[:port] or smtps://host[:port]");
  }
  auto part = [&](CURLUPart which) {
    char* value = nullptr;
    std::string out;
    if (curl_url_get(url.get(), which, &value, 0) == CURLUE_OK && value != nullptr) out = value;
    curl_free(value);
    return out;
  };
  const std::string scheme = absl::AsciiStrToLower(part(CURLUPART_SCHEME));
  if (scheme != "smtp" && scheme != "smtps") {
    return absl::InvalidArgumentError("smtp_url: the scheme must be smtp:// or smtps://");
  }
  if ((scheme == "smtp" && !has_smtp) || (scheme == "smtps" && !has_smtps)) {
    return absl::FailedPreconditionError(
        absl::StrCat("this libcurl was built without ", scheme, " support"));
  }
  if (part(CURLUPART_HOST).empty()) return absl::InvalidArgumentError("smtp_url: no host");
  if (!part(CURLUPART_USER).empty() || !part(CURLUPART_PASSWORD).empty()) {
    return absl::InvalidArgumentError(
        "smtp_url: credentials do not belong in the URL; configure the SMTP username and "
        "password separately");
  }
  if (options.connect_timeout <= absl::ZeroDuration() || options.timeout <= absl::ZeroDuration()) {
    return absl::InvalidArgumentError("SMTP timeouts must be positive");
  }
  if (options.password.size() > 0 && options.username.empty()) {
    return absl::InvalidArgumentError("an SMTP password is set without a username");
  }

  if (options.insecure_skip_verify) {
    Log(LogLevel::kWarning, "SMTP relay certificate verification is disabled",
        {{"smtp_url", options.url}});
  }
  if (!options.username.empty() && scheme == "smtp" &&
      options.tls == SmtpOptions::Tls::kOpportunistic) {
    Log(LogLevel::kWarning,
        "SMTP credentials are configured but STARTTLS is not required: a relay that does not "
        "offer STARTTLS would receive them in clear text",
        {{"smtp_url", options.url}});
  }
  return std::unique_ptr<SmtpMailSender>(new SmtpMailSender(std::move(options)));
}

absl::Status SmtpMailSender::Send(const OutgoingMail& mail) {
  RETURN_IF_ERROR(ValidateMailAddress(mail.envelope_from, "envelope_from"));
  RETURN_IF_ERROR(ValidateMailAddress(mail.envelope_to, "envelope_to"));
  if (mail.data.empty()) return absl::InvalidArgumentError("the message data is empty");

  std::unique_ptr<CURL, EasyDeleter> curl(curl_easy_init());
  if (curl == nullptr) return absl::UnavailableError("curl_easy_init failed");
  CURL* h = curl.get();

  const std::string mail_from = absl::StrCat("<", mail.envelope_from, ">");
  std::unique_ptr<curl_slist, SlistDeleter> recipients(
      curl_slist_append(nullptr, absl::StrCat("<", mail.envelope_to, ">").c_str()));
  if (recipients == nullptr) return absl::UnavailableError("curl_slist_append failed");
  Upload upload{mail.data, 0};
  Transcript transcript;
  char error_buffer[CURL_ERROR_SIZE] = {0};

  curl_easy_setopt(h, CURLOPT_URL, options_.url.c_str());
  curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "smtp,smtps");
  // Several dispatcher threads: no SIGALRM-based DNS timeouts.
  curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(h, CURLOPT_MAIL_FROM, mail_from.c_str());
  curl_easy_setopt(h, CURLOPT_MAIL_RCPT, recipients.get());
  curl_easy_setopt(h, CURLOPT_UPLOAD, 1L);
  curl_easy_setopt(h, CURLOPT_READFUNCTION, &ReadCallback);
  curl_easy_setopt(h, CURLOPT_READDATA, &upload);
  curl_easy_setopt(h, CURLOPT_INFILESIZE_LARGE, static_cast<curl_off_t>(mail.data.size()));
  curl_easy_setopt(h, CURLOPT_USE_SSL,
                   options_.tls == SmtpOptions::Tls::kRequired ? CURLUSESSL_ALL : CURLUSESSL_TRY);
  if (!options_.ca_file.empty()) curl_easy_setopt(h, CURLOPT_CAINFO, options_.ca_file.c_str());
  if (options_.insecure_skip_verify) {
    curl_easy_setopt(h, CURLOPT_SSL_VERIFYPEER, 0L);
    curl_easy_setopt(h, CURLOPT_SSL_VERIFYHOST, 0L);
  }
  if (!options_.username.empty()) {
    curl_easy_setopt(h, CURLOPT_USERNAME, options_.username.c_str());
    curl_easy_setopt(h, CURLOPT_PASSWORD, options_.password.c_str());
  }
  curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS,
                   static_cast<long>(absl::ToInt64Milliseconds(options_.connect_timeout)));
  curl_easy_setopt(h, CURLOPT_TIMEOUT_MS,
                   static_cast<long>(absl::ToInt64Milliseconds(options_.timeout)));
  curl_easy_setopt(h, CURLOPT_ERRORBUFFER, error_buffer);
  // The debug callback is how the relay's reply text is captured (curl's own error text carries
  // only the code). It sees only protocol lines; message data (DATA_OUT) is ignored, and of what
  // the client sends only a known command verb is kept, never arguments or AUTH payloads.
  curl_easy_setopt(h, CURLOPT_DEBUGFUNCTION, &DebugCallback);
  curl_easy_setopt(h, CURLOPT_DEBUGDATA, &transcript);
  curl_easy_setopt(h, CURLOPT_VERBOSE, 1L);

  const CURLcode rc = curl_easy_perform(h);
  if (rc == CURLE_OK) return absl::OkStatus();

  long reply_code = 0;
  curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &reply_code);
  const std::string curl_error = error_buffer[0] != '\0'
                                     ? CleanDisplayText(error_buffer, kMaxReplyLength)
                                     : std::string(curl_easy_strerror(rc));
  const std::string phase = PhaseName(transcript);
  if (IsPermanentRejection(reply_code, transcript.last_command)) {
    return absl::FailedPreconditionError(absl::StrCat(
        "SMTP relay refused ", phase, " permanently: ",
        transcript.last_reply.empty() ? absl::StrCat(reply_code) : transcript.last_reply));
  }
  std::string message = absl::StrCat("SMTP delivery failed at ", phase, ": ", curl_error);
  if (rc == CURLE_OPERATION_TIMEDOUT) {
    absl::StrAppend(&message, " (timeouts: connect ", Millis(options_.connect_timeout),
                    ", total ", Millis(options_.timeout), ")");
  }
  if (rc == CURLE_USE_SSL_FAILED) {
    absl::StrAppend(&message, " (STARTTLS is required but the relay did not offer or complete it)");
  }
  // Only an error reply explains anything ("220 Ready to start TLS" before a certificate
  // failure does not).
  if (reply_code >= 400 && !transcript.last_reply.empty()) {
    absl::StrAppend(&message, "; relay said: ", transcript.last_reply);
  }
  return absl::UnavailableError(message);
}

}  // namespace securelink::invitations::mail
