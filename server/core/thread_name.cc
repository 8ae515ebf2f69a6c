#include "server/core/thread_name.h"

#include <pthread.h>

#include <string>

namespace matgto::core {

void NameThisThread(absl::string_view name) {
  // 16 bytes with the terminating NUL; a longer name fails with ERANGE.
  const std::string shown(name.substr(0, 15));
  pthread_setname_np(pthread_self(), shown.c_str());
}

}  // namespace matgto::core
