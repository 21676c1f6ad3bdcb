#include "server/mail/eml_file_mail_sender.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <system_error>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "server/mail/mime.h"
#include "server/util/status_macros.h"

namespace securelink::invitations::mail {
namespace {

// Keeps file names well inside NAME_MAX (255) with room for the hash, the suffix and the
// temporary-file decoration.
constexpr size_t kMaxStemLength = 160;

std::atomic<uint64_t> temp_counter{0};

uint64_t Fingerprint(absl::string_view s) {
  uint64_t h = 0xcbf29ce484222325ULL;  // FNV-1a: stable across processes
  for (unsigned char c : s) {
    h ^= c;
    h *= 0x100000001b3ULL;
  }
  return h;
}

absl::Status ErrnoError(absl::string_view what, const std::string& path, int err) {
  return absl::UnavailableError(absl::StrCat(what, " ", path, ": ", std::strerror(err)));
}

// Creates `dir` (mode 0700: messages hold registration links) and its parents when missing.
absl::Status EnsureDirectory(const std::string& dir) {
  std::error_code ec;
  if (std::filesystem::is_directory(dir, ec)) return absl::OkStatus();
  std::filesystem::create_directories(dir, ec);
  if (ec) {
    return absl::UnavailableError(
        absl::StrCat("cannot create mail directory ", dir, ": ", ec.message()));
  }
  if (!std::filesystem::is_directory(dir, ec)) {
    return absl::UnavailableError(absl::StrCat("mail directory ", dir, " is not a directory"));
  }
  chmod(dir.c_str(), 0700);
  return absl::OkStatus();
}

// Writes all of `data` to `fd`, retrying short writes and EINTR.
bool WriteAll(int fd, absl::string_view data) {
  while (!data.empty()) {
    const ssize_t n = write(fd, data.data(), data.size());
    if (n < 0) {
      if (errno == EINTR) continue;
      return false;
    }
    data.remove_prefix(static_cast<size_t>(n));
  }
  return true;
}

}  // namespace

absl::StatusOr<std::unique_ptr<EmlFileMailSender>> EmlFileMailSender::Create(std::string dir) {
  if (dir.empty()) return absl::InvalidArgumentError("mail_dir is empty");
  RETURN_IF_ERROR(EnsureDirectory(dir));
  return std::unique_ptr<EmlFileMailSender>(new EmlFileMailSender(std::move(dir)));
}

std::string EmlFileMailSender::FileNameFor(absl::string_view message_id) {
  absl::string_view id = message_id;
  if (absl::StartsWith(id, "<") && absl::EndsWith(id, ">") && id.size() >= 2) {
    id = id.substr(1, id.size() - 2);
  }
  std::string stem;
  bool changed = false;
  for (char c : id) {
    const bool keep = absl::ascii_isalnum(static_cast<unsigned char>(c)) ||
                      absl::string_view(".-_@+=").find(c) != absl::string_view::npos;
    stem.push_back(keep ? c : '_');
    changed |= !keep;
  }
  // No hidden files (the temporary files are the hidden ones) and no "." / "..".
  if (!stem.empty() && stem.front() == '.') {
    stem.front() = '_';
    changed = true;
  }
  if (stem.size() > kMaxStemLength) {
    stem.resize(kMaxStemLength);
    changed = true;
  }
  if (changed || stem.empty()) absl::StrAppend(&stem, "-", absl::Hex(Fingerprint(message_id), absl::kZeroPad16));
  return absl::StrCat(stem, ".eml");
}

absl::Status EmlFileMailSender::Send(const OutgoingMail& mail) {
  RETURN_IF_ERROR(ValidateMailAddress(mail.envelope_from, "envelope_from"));
  RETURN_IF_ERROR(ValidateMailAddress(mail.envelope_to, "envelope_to"));
  if (mail.message_id.empty()) return absl::InvalidArgumentError("message_id is empty");
  if (mail.data.empty()) return absl::InvalidArgumentError("the message data is empty");
  RETURN_IF_ERROR(EnsureDirectory(dir_));

  const std::string name = FileNameFor(mail.message_id);
  const std::string final_path = absl::StrCat(dir_, "/", name);
  // Unique per process and call, so concurrent sends of the same id never share a temp file.
  const std::string temp_path =
      absl::StrCat(dir_, "/.", name, ".", getpid(), ".", temp_counter.fetch_add(1), ".tmp");

  const int fd = open(temp_path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  if (fd < 0) return ErrnoError("cannot create", temp_path, errno);
  if (!WriteAll(fd, mail.data) || fsync(fd) != 0) {
    const int err = errno;
    close(fd);
    unlink(temp_path.c_str());
    return ErrnoError("cannot write", temp_path, err);
  }
  if (close(fd) != 0) {
    const int err = errno;
    unlink(temp_path.c_str());
    return ErrnoError("cannot close", temp_path, err);
  }
  if (rename(temp_path.c_str(), final_path.c_str()) != 0) {
    const int err = errno;
    unlink(temp_path.c_str());
    return ErrnoError("cannot rename into", final_path, err);
  }
  // Make the rename itself durable: the file is "sent" once this returns OK.
  const int dir_fd = open(dir_.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dir_fd >= 0) {
    fsync(dir_fd);
    close(dir_fd);
  }
  return absl::OkStatus();
}

}  // namespace securelink::invitations::mail
