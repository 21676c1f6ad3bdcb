// RETURN_IF_ERROR / ASSIGN_OR_RETURN: Abseil 20220623 ships no status macros.
#ifndef SECURELINK_SERVER_UTIL_STATUS_MACROS_H_
#define SECURELINK_SERVER_UTIL_STATUS_MACROS_H_

#include <utility>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

#define SECURELINK_CONCAT_INNER_(a, b) a##b
#define SECURELINK_CONCAT_(a, b) SECURELINK_CONCAT_INNER_(a, b)

// Evaluates `expr` (an absl::Status) and returns it from the enclosing function unless OK.
#define RETURN_IF_ERROR(expr)                                   \
  do {                                                          \
    ::absl::Status securelink_status_ = (expr);                 \
    if (!securelink_status_.ok()) return securelink_status_;    \
  } while (false)

// Evaluates `rexpr` (an absl::StatusOr<T>); on error returns its status, else moves the value
// into `lhs` (which may be a declaration such as `auto x`).
#define ASSIGN_OR_RETURN(lhs, rexpr) \
  SECURELINK_ASSIGN_OR_RETURN_IMPL_(SECURELINK_CONCAT_(securelink_statusor_, __LINE__), lhs, rexpr)

#define SECURELINK_ASSIGN_OR_RETURN_IMPL_(statusor, lhs, rexpr) \
  auto statusor = (rexpr);                                      \
  if (!statusor.ok()) return std::move(statusor).status();      \
  lhs = std::move(statusor).value()

#endif  // SECURELINK_SERVER_UTIL_STATUS_MACROS_H_
