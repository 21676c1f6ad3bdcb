// The {{placeholder}} syntax shared by the replaceable mail and web templates: one walker, so
// both read and reject templates the same way.
#ifndef SECURELINK_SERVER_UTIL_TEMPLATE_WALK_H_
#define SECURELINK_SERVER_UTIL_TEMPLATE_WALK_H_

#include <cstddef>

#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"

namespace securelink::invitations {

// The 1-based line of `pos` in `text`.
inline size_t LineOfOffset(absl::string_view text, size_t pos) {
  size_t line = 1;
  for (size_t i = 0; i < pos && i < text.size(); ++i) line += text[i] == '\n';
  return line;
}

// Calls `emit(literal)` and `placeholder(name)` in order over `tmpl` ({{ name }}, on one line,
// surrounding blanks ignored). INVALID_ARGUMENT naming `kind` ("mail template"), `file` and the
// line for an unclosed "{{" or a name `known` rejects; `known_hint`, when not empty, is appended
// to the latter (e.g. the list of known names).
template <typename Known, typename Emit, typename Placeholder>
absl::Status WalkTemplate(absl::string_view tmpl, absl::string_view kind, absl::string_view file,
                          Known known, absl::string_view known_hint, Emit emit,
                          Placeholder placeholder) {
  size_t pos = 0;
  while (true) {
    const size_t open = tmpl.find("{{", pos);
    if (open == absl::string_view::npos) break;
    emit(tmpl.substr(pos, open - pos));
    const size_t close = tmpl.find("}}", open + 2);
    const size_t newline = tmpl.find('\n', open + 2);
    if (close == absl::string_view::npos ||
        (newline != absl::string_view::npos && newline < close)) {
      return absl::InvalidArgumentError(absl::StrCat(kind, " ", file, " line ",
                                                     LineOfOffset(tmpl, open),
                                                     ": \"{{\" is not closed by \"}}\""));
    }
    const absl::string_view name =
        absl::StripAsciiWhitespace(tmpl.substr(open + 2, close - open - 2));
    if (!known(name)) {
      return absl::InvalidArgumentError(
          absl::StrCat(kind, " ", file, " line ", LineOfOffset(tmpl, open),
                       ": unknown placeholder {{", name, "}}", known_hint.empty() ? "" : "; ",
                       known_hint));
    }
    placeholder(name);
    pos = close + 2;
  }
  emit(tmpl.substr(pos));
  return absl::OkStatus();
}

}  // namespace securelink::invitations

#endif  // SECURELINK_SERVER_UTIL_TEMPLATE_WALK_H_
