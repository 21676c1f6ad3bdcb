// What a server-streaming reactor decided under its lock, performed after releasing it.
#ifndef SECURELINK_SERVER_STREAM_ACTIONS_H_
#define SECURELINK_SERVER_STREAM_ACTIONS_H_

#include <grpcpp/support/server_callback.h>
#include <grpcpp/support/status.h>

#include <optional>

namespace securelink::invitations {

// A reactor operation may run OnDone (which deletes the reactor) on another thread before it
// returns, so a reactor collects what to do while holding its lock and performs it as the very
// last thing a method does, after unlocking.
template <typename Response>
struct StreamActions {
  const Response* write = nullptr;
  std::optional<grpc::Status> finish;

  // Ends the call with `status` unless `*finished` says it has been ended already.
  void FinishOnce(const grpc::Status& status, bool* finished) {
    if (*finished) return;
    *finished = true;
    finish = status;
  }

  // Finishing wins over writing.
  void PerformOn(grpc::ServerWriteReactor<Response>& reactor) const {
    if (finish.has_value()) {
      reactor.Finish(*finish);
    } else if (write != nullptr) {
      reactor.StartWrite(write);
    }
  }
};

}  // namespace securelink::invitations

#endif  // SECURELINK_SERVER_STREAM_ACTIONS_H_
