// TSan builds only (INVITATIONS_SANITIZE=thread): Debian's libgrpc is not instrumented, so TSan
// cannot see how a completion-queue tag travels from the thread that submits an operation, through
// gRPC's lock-free call combiners and pollers, to the thread that completes it and the one that
// receives it. grpcpp's inline code (compiled into our binaries, so instrumented) touches the same
// objects on each of those threads, and every such access would be reported. Linked, like
// tsan_absl_annotations.cc, ahead of libgrpc, this interposes the exported entry points a tag
// passes and tells TSan about the hand-off, keyed on the tag's address:
//   submit   grpc_call_start_batch, grpc_server_request_(registered_)call   release(tag)
//   complete grpc_cq_end_op (every completion, called through libgrpc's PLT) acquire + release(tag)
//   receive  grpc_completion_queue_next / _pluck returning the tag            acquire(tag)
//            a callback queue's functor_run (wrapped at grpc_cq_end_op)       acquire(tag)
//   teardown grpc_call_start_batch, grpc_call_unref release(call) -> ~ServerContextBase and
//            grpc_core::Call::DeleteThis acquire(call)
// and, for the callback server's reactors, the counters that decide when OnCancel and OnDone may
// run: grpcpp decrements them in inline code (ours, instrumented) but also inside libgrpc++ (not).
// Each edge is one gRPC itself guarantees: a tag is delivered only after its operation was
// submitted and completed; a call is torn down only after all its batches and references. Nothing
// is added between two operations on different tags, so a race between two of our reactor
// callbacks, or between a callback and our own threads, stays visible.
#include <cstdio>
#include <cstdlib>
#include <utility>

#include <grpc/grpc.h>
#include <grpcpp/server_context.h>
#include <grpcpp/support/server_callback.h>

#include "absl/status/status.h"
#include "interpose.h"  // beside this file

struct grpc_cq_completion;  // Opaque here; only passed through.

namespace {

using ::securelink::sanitizers::Real;

grpc_cq_completion_type CompletionType(grpc_completion_queue* cq) {
  static auto real = Real<grpc_cq_completion_type (*)(grpc_completion_queue*)>(
      "_Z27grpc_get_cq_completion_typeP21grpc_completion_queue");
  return real(cq);
}

// A callback queue runs tag->functor_run on whichever thread gRPC picks, with no exported function
// in between to annotate. So grpc_cq_end_op hands gRPC this functor in the tag's place; gRPC fills
// its internal fields and runs it, and it acquires the tag before running the real one.
struct AnnotatedFunctor {
  grpc_completion_queue_functor functor;  // First: gRPC sees only this.
  grpc_completion_queue_functor* tag;

  static void Run(grpc_completion_queue_functor* f, int ok) {
    grpc_completion_queue_functor* tag = reinterpret_cast<AnnotatedFunctor*>(f)->tag;
    delete reinterpret_cast<AnnotatedFunctor*>(f);
    __tsan_acquire(tag);
    tag->functor_run(tag, ok);
  }
};

}  // namespace

extern "C" grpc_call_error grpc_call_start_batch(grpc_call* call, const grpc_op* ops, size_t nops,
                                                 void* tag, void* reserved) {
  static auto real = Real<grpc_call_error (*)(grpc_call*, const grpc_op*, size_t, void*, void*)>(
      "grpc_call_start_batch");
  __tsan_release(tag);
  __tsan_release(call);  // For ~ServerContextBase below.
  return real(call, ops, nops, tag, reserved);
}

extern "C" grpc_call_error grpc_server_request_call(
    grpc_server* server, grpc_call** call, grpc_call_details* details,
    grpc_metadata_array* request_metadata, grpc_completion_queue* cq_bound_to_call,
    grpc_completion_queue* cq_for_notification, void* tag) {
  static auto real = Real<grpc_call_error (*)(
      grpc_server*, grpc_call**, grpc_call_details*, grpc_metadata_array*, grpc_completion_queue*,
      grpc_completion_queue*, void*)>("grpc_server_request_call");
  __tsan_release(tag);
  return real(server, call, details, request_metadata, cq_bound_to_call, cq_for_notification,
              tag);
}

extern "C" grpc_call_error grpc_server_request_registered_call(
    grpc_server* server, void* registered_method, grpc_call** call, gpr_timespec* deadline,
    grpc_metadata_array* request_metadata, grpc_byte_buffer** optional_payload,
    grpc_completion_queue* cq_bound_to_call, grpc_completion_queue* cq_for_notification,
    void* tag) {
  static auto real = Real<grpc_call_error (*)(
      grpc_server*, void*, grpc_call**, gpr_timespec*, grpc_metadata_array*, grpc_byte_buffer**,
      grpc_completion_queue*, grpc_completion_queue*, void*)>(
      "grpc_server_request_registered_call");
  __tsan_release(tag);
  return real(server, registered_method, call, deadline, request_metadata, optional_payload,
              cq_bound_to_call, cq_for_notification, tag);
}

// Core's completion of every operation, on the thread that completes it. The acquire gives this
// thread the submitter's view of the tag (a callback server's request tag is also built on the
// completing thread, by the method allocator, with no submission at all).
void grpc_cq_end_op(grpc_completion_queue* cq, void* tag, absl::Status error,
                    void (*done)(void* done_arg, grpc_cq_completion* storage), void* done_arg,
                    grpc_cq_completion* storage, bool internal) {
  static auto real = Real<void (*)(grpc_completion_queue*, void*, absl::Status,
                                   void (*)(void*, grpc_cq_completion*), void*,
                                   grpc_cq_completion*, bool)>(
      "_Z14grpc_cq_end_opP21grpc_completion_queuePvN4absl7debian36StatusEPFvS1_P18grpc_cq_"
      "completionES1_S6_b");
  __tsan_acquire(tag);
  __tsan_release(tag);
  if (CompletionType(cq) == GRPC_CQ_CALLBACK) {
    auto* original = static_cast<grpc_completion_queue_functor*>(tag);
    auto* annotated = new AnnotatedFunctor{};
    annotated->functor.functor_run = &AnnotatedFunctor::Run;
    annotated->functor.inlineable = original->inlineable;
    annotated->tag = original;
    tag = annotated;
  }
  real(cq, tag, std::move(error), done, done_arg, storage, internal);
}

extern "C" grpc_event grpc_completion_queue_next(grpc_completion_queue* cq, gpr_timespec deadline,
                                                 void* reserved) {
  static auto real = Real<grpc_event (*)(grpc_completion_queue*, gpr_timespec, void*)>(
      "grpc_completion_queue_next");
  grpc_event event = real(cq, deadline, reserved);
  if (event.type == GRPC_OP_COMPLETE) __tsan_acquire(event.tag);
  return event;
}

extern "C" grpc_event grpc_completion_queue_pluck(grpc_completion_queue* cq, void* tag,
                                                  gpr_timespec deadline, void* reserved) {
  static auto real = Real<grpc_event (*)(grpc_completion_queue*, void*, gpr_timespec, void*)>(
      "grpc_completion_queue_pluck");
  grpc_event event = real(cq, tag, deadline, reserved);
  if (event.type == GRPC_OP_COMPLETE) __tsan_acquire(event.tag);
  return event;
}

// A call's memory (its metadata, its arena) is freed by whichever of gRPC's threads drops the last
// reference, after the application's grpc_call_unref. Call::DeleteThis (exported, reached through
// libgrpc's PLT) runs only after every reference is gone: it acquires what each unref released.
extern "C" void grpc_call_unref(grpc_call* call) {
  static auto real = Real<void (*)(grpc_call*)>("grpc_call_unref");
  __tsan_release(call);
  real(call);
}

// grpc_core::Call::DeleteThis(); `self` is the grpc_call handle (Call is at its start).
extern "C" void TsanCallDeleteThis(void* self) __asm__("_ZN9grpc_core4Call10DeleteThisEv");
extern "C" void TsanCallDeleteThis(void* self) {
  static auto real = Real<void (*)(void*)>("_ZN9grpc_core4Call10DeleteThisEv");
  __tsan_acquire(self);
  real(self);
}

// A server call's context (and with it the call's interceptors) is destroyed after every batch on
// the call was started: the interceptors that ran for a batch on one thread, before the empty batch
// grpcpp starts to resume it, are read there, and deleted here on another. grpcpp's own bookkeeping
// in between (libgrpc++'s health service, its MaybeDone) is not instrumented.
namespace {

void AcquireCallOf(void* context) {
  grpc_call* call = static_cast<grpc::ServerContextBase*>(context)->c_call();
  if (call != nullptr) __tsan_acquire(call);
}

}  // namespace

// grpc::ServerContextBase::~ServerContextBase(), base-object and complete (the same code in
// libgrpc++, two names; derived contexts call them through the PLT).
extern "C" void TsanServerContextBaseD2(void* self) __asm__("_ZN4grpc17ServerContextBaseD2Ev");
extern "C" void TsanServerContextBaseD2(void* self) {
  static auto real = Real<void (*)(void*)>("_ZN4grpc17ServerContextBaseD2Ev");
  AcquireCallOf(self);
  real(self);
}
extern "C" void TsanServerContextBaseD1(void* self) __asm__("_ZN4grpc17ServerContextBaseD1Ev");
extern "C" void TsanServerContextBaseD1(void* self) {
  static auto real = Real<void (*)(void*)>("_ZN4grpc17ServerContextBaseD1Ev");
  AcquireCallOf(self);
  real(self);
}

// A callback server call runs OnDone once its last reference is gone and OnCancel once both
// cancellation conditions are met. The references are dropped by acq_rel decrements in grpcpp's
// inline MaybeDone, which TSan sees as release/acquire on the counter, except those made inside
// libgrpc++ (the ServerContext CompletionOp's), which it does not. The two functions below are
// reached only after the last decrement, so every decrement happened before them: acquiring the
// counter there collects the release of every instrumented decrement even when the last one, the
// one that leads here, was made in libgrpc++. Both are exported by libgrpc++ and called through
// its PLT and ours.
namespace grpc {
namespace internal {

void ServerCallbackCall::ScheduleOnDone(bool inline_ondone) {
  static auto real = Real<void (*)(ServerCallbackCall*, bool)>(
      "_ZN4grpc8internal18ServerCallbackCall14ScheduleOnDoneEb");
  __tsan_acquire(&callbacks_outstanding_);
  real(this, inline_ondone);
}

void ServerCallbackCall::CallOnCancel(ServerReactor* reactor) {
  static auto real = Real<void (*)(ServerCallbackCall*, ServerReactor*)>(
      "_ZN4grpc8internal18ServerCallbackCall12CallOnCancelEPNS0_13ServerReactorE");
  __tsan_acquire(&on_cancel_conditions_remaining_);
  real(this, reactor);
}

}  // namespace internal
}  // namespace grpc
