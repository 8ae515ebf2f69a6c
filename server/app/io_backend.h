// Which event loop `matgto serve` runs on: Asio on io_uring or on epoll.
//
// Asio picks its backend when it is compiled, for the whole program: epoll
// (any Linux), or io_uring with BOOST_ASIO_HAS_IO_URING and
// BOOST_ASIO_DISABLE_EPOLL (liburing). On io_uring a forwarded exchange
// costs the proxy ~0.7 system calls instead of ~6 (epoll's loop tries each
// read at once and fails with EAGAIN before it waits; io_uring submits the
// reads and writes of every connection in one call and waits in the
// kernel), and fewer context switches. But many machines forbid io_uring --
// Docker's and containerd's default seccomp profiles, the
// kernel.io_uring_disabled sysctl -- and a program built for it cannot run
// without it. So the same sources are built twice (`make build` builds both):
// `matgto` on epoll and `matgto-uring` beside it, and `serve` runs on the one
// the machine allows (--io-backend, default auto): each build hands over to
// the other, with the same arguments, by exec before it starts anything.
#pragma once

#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace matgto::app {

enum class IoBackend { kAuto, kIoUring, kEpoll };

// "auto", "io_uring" or "epoll".
absl::StatusOr<IoBackend> ParseIoBackend(absl::string_view name);
const char* IoBackendName(IoBackend backend);

// The backend this binary was compiled for (kIoUring or kEpoll).
IoBackend ThisBuildIoBackend();

// OK when this process may create an io_uring; otherwise why not (seccomp,
// kernel.io_uring_disabled, a kernel without it), from io_uring_setup(2).
absl::Status IoUringAvailable();

// What `serve` does about the backend: run here, exec `path` (the other
// build, with the same arguments), or fail with `why`.
struct IoBackendPlan {
  enum Kind { kRunHere, kExec, kFail } kind = kRunHere;
  std::string path;
  std::string why;
};

// The decision, from what was asked (`wanted`), what this binary is
// (`built`), the other build's path (`other`, empty when there is none) and
// whether io_uring may be used (`uring`). Never plans an exec the other
// build would answer with an exec back.
IoBackendPlan PlanIoBackend(IoBackend wanted, IoBackend built,
                            const std::string& other,
                            const absl::Status& uring);

// The other build's path beside this executable ("matgto-uring" beside an
// epoll build, "matgto" beside an io_uring one) when it is there and
// executable; else empty.
std::string OtherBuildBesideThisOne();

// Carries out the plan for this process (`serve`, before it starts any
// thread): returns OK to run here, execs the other build with `argv` (and
// does not return), or returns why it cannot run as asked. An epoll build
// that cannot exec the io_uring one under auto says so on stderr and runs.
absl::Status RunOnWantedBackend(IoBackend wanted, char** argv);

}  // namespace matgto::app
