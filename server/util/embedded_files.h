// Files compiled into the binary by server/util/embed_files.cmake: the shipped defaults (mail and
// page templates, schema migrations), so the files in the repository are their single source and
// a binary needs nothing beside it.
#ifndef SECURELINK_SERVER_UTIL_EMBEDDED_FILES_H_
#define SECURELINK_SERVER_UTIL_EMBEDDED_FILES_H_

#include "absl/strings/string_view.h"
#include "absl/types/span.h"

namespace securelink::invitations {

struct EmbeddedFile {
  absl::string_view name;  // the path below the embedded directory, with '/' separators
  absl::string_view content;
};

// One embedded directory, its files sorted by name.
using EmbeddedFiles = absl::Span<const EmbeddedFile>;

// The content of file `name` of `files`, or nullptr when there is none.
const absl::string_view* FindEmbeddedFile(EmbeddedFiles files, absl::string_view name);

}  // namespace securelink::invitations

#endif  // SECURELINK_SERVER_UTIL_EMBEDDED_FILES_H_
