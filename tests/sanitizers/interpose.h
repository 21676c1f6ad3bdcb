// TSan builds only: what the annotation shims (tsan_*_annotations.cc) share. They interpose
// functions exported by Debian's uninstrumented libraries, call the real ones and tell TSan about
// the synchronisation those performed.
#ifndef SECURELINK_TESTS_SANITIZERS_INTERPOSE_H_
#define SECURELINK_TESTS_SANITIZERS_INTERPOSE_H_

#include <dlfcn.h>

#include <cstdio>
#include <cstdlib>

extern "C" void __tsan_acquire(void* addr);
extern "C" void __tsan_release(void* addr);

namespace securelink::sanitizers {

// The next definition of the symbol `mangled` after the shim's own: the library's. Aborts,
// naming it, when there is none (the library's ABI changed: the shim must follow).
template <typename Fn>
Fn Real(const char* mangled) {
  void* fn = dlsym(RTLD_NEXT, mangled);
  if (fn == nullptr) {
    std::fprintf(stderr, "tsan annotations: %s not found\n", mangled);
    std::abort();
  }
  return reinterpret_cast<Fn>(fn);
}

}  // namespace securelink::sanitizers

#endif  // SECURELINK_TESTS_SANITIZERS_INTERPOSE_H_
