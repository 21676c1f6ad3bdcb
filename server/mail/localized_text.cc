#include "server/mail/localized_text.h"

#include <algorithm>
#include <filesystem>
#include <optional>
#include <set>
#include <system_error>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/time/civil_time.h"
#include "server/domain/tenant_policy.h"
#include "server/mail/mime.h"
#include "server/util/file.h"
#include "server/util/log.h"
#include "server/util/status_macros.h"
#include "server/util/template_walk.h"

namespace securelink::invitations::mail {
namespace {

constexpr absl::string_view kDatePlaceholders[] = {"weekday", "day",  "day2",   "month",
                                                   "month2",  "year", "hour", "minute"};

// Calls `literal` and `placeholder` in order over a {name} pattern. INVALID_ARGUMENT naming
// `file` for an unclosed or unknown placeholder.
template <typename Literal, typename Placeholder>
absl::Status WalkDatePattern(absl::string_view pattern, absl::string_view file, Literal literal,
                             Placeholder placeholder) {
  size_t pos = 0;
  while (pos < pattern.size()) {
    const size_t open = pattern.find('{', pos);
    if (open == absl::string_view::npos) break;
    literal(pattern.substr(pos, open - pos));
    const size_t close = pattern.find('}', open);
    if (close == absl::string_view::npos) {
      return absl::InvalidArgumentError(
          absl::StrCat(file, ": pattern has a \"{\" not closed by \"}\""));
    }
    const absl::string_view name = pattern.substr(open + 1, close - open - 1);
    if (std::find(std::begin(kDatePlaceholders), std::end(kDatePlaceholders), name) ==
        std::end(kDatePlaceholders)) {
      return absl::InvalidArgumentError(
          absl::StrCat(file, ": pattern has an unknown placeholder {", name,
                       "}; known: ", absl::StrJoin(kDatePlaceholders, ", ")));
    }
    placeholder(name);
    pos = close + 1;
  }
  if (pos < pattern.size()) literal(pattern.substr(pos));
  return absl::OkStatus();
}

std::string SerializeKeyValues(const std::map<std::string, std::string>& values) {
  std::string out;
  for (const auto& [key, value] : values) absl::StrAppend(&out, key, " = ", value, "\n");
  return out;
}

bool IsConf(absl::string_view name) { return absl::EndsWith(name, ".conf"); }

// Lays `overlay` (the operator's file `label`) over `*base` (may be empty: no base).
absl::Status Overlay(const LanguageTreeSpec& spec, const std::string& name,
                     const std::string& label, std::string overlay, std::string* base) {
  if (!IsValidUtf8(overlay)) {
    return absl::InvalidArgumentError(absl::StrCat(spec.kind, " ", label, " is not valid UTF-8"));
  }
  if (!IsConf(name) || base->empty()) {
    *base = std::move(overlay);
    return absl::OkStatus();
  }
  static const std::vector<std::string> kNoKeys;
  auto keys = spec.conf_keys.find(name);
  ASSIGN_OR_RETURN(auto top, ParseKeyValues(overlay, absl::StrCat(spec.kind, " ", label),
                                            keys == spec.conf_keys.end() ? kNoKeys : keys->second));
  ASSIGN_OR_RETURN(auto merged, ParseKeyValues(*base, name));
  for (auto& [key, value] : top) merged[key] = std::move(value);
  *base = SerializeKeyValues(merged);
  return absl::OkStatus();
}

// Every file of `spec` present in `files` (language `tag`), each conf file with every key.
absl::Status CheckComplete(const LanguageTreeSpec& spec, const std::string& tag,
                           const LanguageFiles& files, absl::string_view where) {
  for (const std::string& name : spec.files) {
    auto it = files.find(name);
    if (it == files.end()) {
      return absl::InvalidArgumentError(absl::StrCat(
          spec.kind, " ", tag, "/", name, " is missing", where,
          ": a language must provide every file unless a parent tag (\"de\" for \"de-CH\") "
          "is available to take the missing ones from"));
    }
    const std::string label = absl::StrCat(spec.kind, " ", tag, "/", name);
    if (!IsValidUtf8(it->second)) return absl::InvalidArgumentError(label + " is not valid UTF-8");
    auto keys = spec.conf_keys.find(name);
    if (keys == spec.conf_keys.end()) continue;
    absl::StatusOr<std::map<std::string, std::string>> values =
        ParseKeyValues(it->second, label, keys->second);
    if (!values.ok()) {
      return absl::Status(values.status().code(), absl::StrCat(values.status().message(), where));
    }
    std::vector<std::string> missing;
    for (const std::string& key : keys->second) {
      if (!values->count(key)) missing.push_back(key);
    }
    if (!missing.empty()) {
      return absl::InvalidArgumentError(absl::StrCat(label, where, " lacks the key(s) ",
                                                     absl::StrJoin(missing, ", ")));
    }
  }
  return absl::OkStatus();
}

// NOT_FOUND passes as "no such file"; the rest of ReadWholeFile's errors are the caller's.
absl::StatusOr<std::optional<std::string>> ReadIfPresent(const std::filesystem::path& path) {
  absl::StatusOr<std::string> content = ReadWholeFile(path.string());
  if (absl::IsNotFound(content.status())) return std::optional<std::string>();
  RETURN_IF_ERROR(content.status());
  return std::optional<std::string>(*std::move(content));
}

}  // namespace

absl::StatusOr<std::map<std::string, std::string>> ParseKeyValues(
    absl::string_view text, absl::string_view file, const std::vector<std::string>& known_keys) {
  std::map<std::string, std::string> out;
  int line_number = 0;
  for (absl::string_view line : absl::StrSplit(text, '\n')) {
    ++line_number;
    line = absl::StripAsciiWhitespace(line);
    if (line.empty() || line.front() == '#') continue;
    auto bad = [&](absl::string_view why) {
      return absl::InvalidArgumentError(absl::StrCat(file, " line ", line_number, ": ", why));
    };
    const size_t eq = line.find('=');
    if (eq == absl::string_view::npos) return bad("expected key = value");
    const std::string key(absl::StripAsciiWhitespace(line.substr(0, eq)));
    if (key.empty()) return bad("expected key = value");
    for (char c : key) {
      if (!absl::ascii_isalnum(static_cast<unsigned char>(c)) && c != '_' && c != '.') {
        return bad("keys are letters, digits, '_' and '.'");
      }
    }
    if (!known_keys.empty() &&
        std::find(known_keys.begin(), known_keys.end(), key) == known_keys.end()) {
      return bad(absl::StrCat("unknown key '", key, "'"));
    }
    if (!out.emplace(key, std::string(absl::StripAsciiWhitespace(line.substr(eq + 1)))).second) {
      return bad(absl::StrCat("key '", key, "' is set twice"));
    }
  }
  return out;
}

const std::vector<std::string>& DateConfKeys() {
  static const auto* keys = new std::vector<std::string>{"weekdays", "months", "pattern"};
  return *keys;
}

absl::StatusOr<DateFormat> ParseDateFormat(absl::string_view text, absl::string_view file) {
  ASSIGN_OR_RETURN(auto values, ParseKeyValues(text, file, DateConfKeys()));
  DateFormat format;
  auto names = [&](const char* key, auto& into) -> absl::Status {
    auto it = values.find(key);
    if (it == values.end()) return absl::OkStatus();  // CheckComplete demands it for a language
    std::vector<std::string> parts = absl::StrSplit(it->second, ',');
    if (parts.size() != into.size()) {
      return absl::InvalidArgumentError(absl::StrCat(file, ": ", key, " needs ", into.size(),
                                                     " comma-separated names, has ",
                                                     parts.size()));
    }
    for (size_t i = 0; i < parts.size(); ++i) {
      into[i] = std::string(absl::StripAsciiWhitespace(parts[i]));
      if (into[i].empty()) {
        return absl::InvalidArgumentError(absl::StrCat(file, ": ", key, " has an empty name"));
      }
    }
    return absl::OkStatus();
  };
  RETURN_IF_ERROR(names("weekdays", format.weekdays));
  RETURN_IF_ERROR(names("months", format.months));
  if (auto it = values.find("pattern"); it != values.end()) format.pattern = it->second;
  RETURN_IF_ERROR(WalkDatePattern(
      format.pattern, file, [](absl::string_view) {}, [](absl::string_view) {}));
  return format;
}

std::string FormatLocalizedTime(absl::Time t, const DateFormat& format) {
  const absl::CivilMinute c = absl::ToCivilMinute(t, absl::UTCTimeZone());
  const int weekday = static_cast<int>(absl::GetWeekday(absl::CivilDay(c)));  // Monday = 0
  std::string out;
  WalkDatePattern(
      format.pattern, "dates.conf", [&](absl::string_view literal) { absl::StrAppend(&out, literal); },
      [&](absl::string_view name) {
        if (name == "weekday") out += format.weekdays[weekday];
        if (name == "day") absl::StrAppend(&out, c.day());
        if (name == "day2") absl::StrAppendFormat(&out, "%02d", c.day());
        if (name == "month") out += format.months[c.month() - 1];
        if (name == "month2") absl::StrAppendFormat(&out, "%02d", c.month());
        if (name == "year") absl::StrAppend(&out, c.year());
        if (name == "hour") absl::StrAppendFormat(&out, "%02d", c.hour());
        if (name == "minute") absl::StrAppendFormat(&out, "%02d", c.minute());
      })
      .IgnoreError();  // checked when the format was parsed
  return out;
}

absl::StatusOr<LanguageTree> LoadLanguageTree(EmbeddedFiles shipped, const std::string& dir,
                                              const LanguageTreeSpec& spec) {
  LanguageTree tree;
  for (const EmbeddedFile& file : shipped) {
    const size_t slash = file.name.find('/');
    if (slash == absl::string_view::npos) {
      tree.shared.emplace(std::string(file.name), std::string(file.content));
    } else {
      tree.languages[std::string(file.name.substr(0, slash))].emplace(
          std::string(file.name.substr(slash + 1)), std::string(file.content));
    }
  }
  if (dir.empty()) {
    for (const auto& [tag, files] : tree.languages) {
      RETURN_IF_ERROR(CheckComplete(spec, tag, files, " (built in)"));
    }
    return tree;
  }
  const std::string where = absl::StrCat(" (in ", dir, ")");
  std::error_code ec;
  if (!std::filesystem::is_directory(dir, ec)) {
    return absl::NotFoundError(absl::StrCat(spec.kind, " directory ", dir,
                                            " does not exist or is not a directory"));
  }
  std::vector<std::string> replaced;
  // Today's flat layout: the files directly in `dir` are English's.
  for (const std::string& name : spec.files) {
    ASSIGN_OR_RETURN(auto content, ReadIfPresent(std::filesystem::path(dir) / name));
    if (!content.has_value()) continue;
    const absl::Status laid = Overlay(spec, name, name, *std::move(content),
                                      &tree.languages[std::string(kDefaultLanguage)][name]);
    if (!laid.ok()) return absl::Status(laid.code(), absl::StrCat(laid.message(), where));
    replaced.push_back(name);
  }
  for (const std::string& name : spec.shared_files) {
    ASSIGN_OR_RETURN(auto content, ReadIfPresent(std::filesystem::path(dir) / name));
    if (!content.has_value()) continue;
    if (!IsValidUtf8(*content)) {
      return absl::InvalidArgumentError(
          absl::StrCat(spec.kind, " ", name, " is not valid UTF-8", where));
    }
    tree.shared[name] = *std::move(content);
    replaced.push_back(name);
  }

  // Subdirectories: parents before children, so "de-CH" can start from an operator's "de".
  std::vector<std::pair<std::string, std::filesystem::path>> subdirs;
  std::set<std::string> seen;
  for (const auto& entry : std::filesystem::directory_iterator(dir, ec)) {
    if (!entry.is_directory(ec)) continue;
    const std::string name = entry.path().filename().string();
    if (!name.empty() && name.front() == '.') continue;  // .git and the like
    absl::StatusOr<std::string> tag = CanonicalLocale(name);
    if (!tag.ok() || tag->empty()) {
      return absl::InvalidArgumentError(absl::StrCat(
          spec.kind, " directory ", name, "/", where,
          " is not a BCP 47 language tag (such as de, fr-CA): ",
          tag.ok() ? "empty" : std::string(tag.status().message())));
    }
    if (!seen.insert(*tag).second) {
      return absl::InvalidArgumentError(absl::StrCat(spec.kind, " directories", where,
                                                     " spell the language ", *tag, " twice"));
    }
    subdirs.emplace_back(*tag, entry.path());
  }
  if (ec) {
    return absl::UnavailableError(
        absl::StrCat("cannot list ", spec.kind, " directory ", dir, ": ", ec.message()));
  }
  std::sort(subdirs.begin(), subdirs.end(), [](const auto& a, const auto& b) {
    const auto depth = [](const std::string& t) { return std::count(t.begin(), t.end(), '-'); };
    return std::make_pair(depth(a.first), a.first) < std::make_pair(depth(b.first), b.first);
  });
  for (const auto& [tag, path] : subdirs) {
    if (!tree.languages.count(tag)) {
      LanguageFiles base;
      const std::vector<std::string> fallbacks = LocaleFallbacks(tag);
      for (size_t i = 1; i < fallbacks.size(); ++i) {
        auto parent = tree.languages.find(fallbacks[i]);
        if (parent != tree.languages.end()) {
          base = parent->second;
          break;
        }
      }
      tree.languages[tag] = std::move(base);
    }
    LanguageFiles& files = tree.languages[tag];
    std::vector<std::string> ignored;
    for (const auto& entry : std::filesystem::directory_iterator(path, ec)) {
      const std::string name = entry.path().filename().string();
      if (std::find(spec.files.begin(), spec.files.end(), name) == spec.files.end()) {
        ignored.push_back(name);
        continue;
      }
      ASSIGN_OR_RETURN(auto content, ReadIfPresent(entry.path()));
      if (!content.has_value()) continue;
      const absl::Status laid = Overlay(spec, name, absl::StrCat(path.filename().string(), "/", name),
                                        *std::move(content), &files[name]);
      if (!laid.ok()) return absl::Status(laid.code(), absl::StrCat(laid.message(), where));
      replaced.push_back(absl::StrCat(tag, "/", name));
    }
    if (!ignored.empty()) {
      std::sort(ignored.begin(), ignored.end());
      Log(LogLevel::kWarning, "template files ignored: not a file any language has",
          {{"kind", std::string(spec.kind)},
           {"dir", path.string()},
           {"files", absl::StrJoin(ignored, ",")}});
    }
  }
  for (const auto& [tag, files] : tree.languages) {
    RETURN_IF_ERROR(CheckComplete(spec, tag, files, where));
  }
  std::sort(replaced.begin(), replaced.end());
  Log(LogLevel::kInfo, "templates loaded",
      {{"kind", std::string(spec.kind)},
       {"dir", dir},
       {"languages", absl::StrJoin(LanguagesOf(tree), ",")},
       {"from_dir", absl::StrJoin(replaced, ",")}});
  return tree;
}

std::vector<std::string> LanguagesOf(const LanguageTree& tree) {
  std::vector<std::string> out;
  for (const auto& [tag, files] : tree.languages) out.push_back(tag);
  return out;
}

std::string ChooseLanguage(absl::string_view locale, const std::vector<std::string>& available) {
  const std::string canonical = CanonicalLocale(locale).value_or("");
  return ResolveLocale(canonical, "", available);
}

absl::string_view RoleMessageKey(Role role) {
  switch (role) {
    case Role::kSuperAdmin: return "role.super_admin";
    case Role::kTenantAdmin: return "role.tenant_admin";
    case Role::kVpnUser: return "role.vpn_user";
    case Role::kUnspecified: break;
  }
  return "role.user";
}

}  // namespace securelink::invitations::mail
