// Waiting for an observable condition in tests, instead of sleeping a guessed time.
#ifndef SECURELINK_TESTS_SUPPORT_WAIT_H_
#define SECURELINK_TESTS_SUPPORT_WAIT_H_

#include <functional>

#include "absl/time/clock.h"
#include "absl/time/time.h"

namespace securelink::testing {

// Polls `condition` every 10 ms until it holds (true) or `timeout` passes (false).
inline bool WaitFor(const std::function<bool()>& condition,
                    absl::Duration timeout = absl::Seconds(30)) {
  const absl::Time give_up = absl::Now() + timeout;
  while (!condition()) {
    if (absl::Now() > give_up) return false;
    absl::SleepFor(absl::Milliseconds(10));
  }
  return true;
}

}  // namespace securelink::testing

#endif  // SECURELINK_TESTS_SUPPORT_WAIT_H_
