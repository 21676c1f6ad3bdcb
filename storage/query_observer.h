// The storage layer's one seam for observation: told about every database operation, so that
// metrics can be recorded without storage knowing any metrics library.
#ifndef SECURELINK_STORAGE_QUERY_OBSERVER_H_
#define SECURELINK_STORAGE_QUERY_OBSERVER_H_

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"

namespace securelink::invitations {

class QueryObserver {
 public:
  virtual ~QueryObserver() = default;

  // One RunTransaction/RunReadOnly finished after `elapsed` (connection wait and retries
  // included) with `status`. `operation` is the caller's fixed description ("creating an
  // invitation"), never SQL or values. Called on the thread that ran it; must not block.
  virtual void OperationFinished(absl::string_view operation, absl::Duration elapsed,
                                 const absl::Status& status) = 0;
};

}  // namespace securelink::invitations

#endif  // SECURELINK_STORAGE_QUERY_OBSERVER_H_
