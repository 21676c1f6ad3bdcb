#include "server/util/embedded_files.h"

namespace securelink::invitations {

const absl::string_view* FindEmbeddedFile(EmbeddedFiles files, absl::string_view name) {
  for (const EmbeddedFile& file : files) {
    if (file.name == name) return &file.content;
  }
  return nullptr;
}

}  // namespace securelink::invitations
