// Reading a whole (small) file: settings, keys, templates.
#ifndef SECURELINK_SERVER_UTIL_FILE_H_
#define SECURELINK_SERVER_UTIL_FILE_H_

#include <cstddef>
#include <string>

#include "absl/status/statusor.h"

namespace securelink::invitations {

// The bytes of the file at `path`. NOT_FOUND when it does not exist; FAILED_PRECONDITION when
// it is larger than `max_bytes` (nothing meant for this is that big, and an unbounded read of
// the wrong file must not exhaust memory); UNAVAILABLE when it cannot be opened or read. Each
// message names the path.
absl::StatusOr<std::string> ReadWholeFile(const std::string& path,
                                          size_t max_bytes = 4 * 1024 * 1024);

}  // namespace securelink::invitations

#endif  // SECURELINK_SERVER_UTIL_FILE_H_
