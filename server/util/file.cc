#include "server/util/file.h"

#include <filesystem>
#include <fstream>

#include "absl/strings/str_cat.h"

namespace securelink::invitations {

absl::StatusOr<std::string> ReadWholeFile(const std::string& path, size_t max_bytes) {
  std::error_code ec;
  if (!std::filesystem::exists(path, ec)) {
    return absl::NotFoundError(absl::StrCat(path, " does not exist"));
  }
  std::ifstream in(path, std::ios::binary);
  if (!in.is_open()) return absl::UnavailableError(absl::StrCat("cannot open ", path));
  std::string content(max_bytes + 1, '\0');
  in.read(content.data(), static_cast<std::streamsize>(max_bytes + 1));
  if (in.bad()) return absl::UnavailableError(absl::StrCat("cannot read ", path));
  content.resize(static_cast<size_t>(in.gcount()));
  if (content.size() > max_bytes) {
    return absl::FailedPreconditionError(
        absl::StrCat(path, " is larger than ", max_bytes, " bytes"));
  }
  return content;
}

}  // namespace securelink::invitations
