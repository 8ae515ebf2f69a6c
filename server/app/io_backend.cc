#include "server/app/io_backend.h"

#include <linux/io_uring.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <system_error>

#include "absl/strings/str_cat.h"

namespace matgto::app {

absl::StatusOr<IoBackend> ParseIoBackend(absl::string_view name) {
  if (name == "auto") return IoBackend::kAuto;
  if (name == "io_uring") return IoBackend::kIoUring;
  if (name == "epoll") return IoBackend::kEpoll;
  return absl::InvalidArgumentError(absl::StrCat(
      "--io-backend must be auto, io_uring or epoll, got '", name, "'"));
}

const char* IoBackendName(IoBackend backend) {
  switch (backend) {
    case IoBackend::kAuto:
      return "auto";
    case IoBackend::kIoUring:
      return "io_uring";
    case IoBackend::kEpoll:
      return "epoll";
  }
  return "auto";
}

IoBackend ThisBuildIoBackend() {
#if defined(BOOST_ASIO_HAS_IO_URING) && defined(BOOST_ASIO_DISABLE_EPOLL)
  return IoBackend::kIoUring;
#else
  return IoBackend::kEpoll;
#endif
}

absl::Status IoUringAvailable() {
  // The system call itself (no liburing in the epoll build): a ring of 2
  // entries, closed at once.
  io_uring_params params{};
  const long fd = ::syscall(SYS_io_uring_setup, 2, &params);
  if (fd >= 0) {
    ::close(static_cast<int>(fd));
    return absl::OkStatus();
  }
  const int err = errno;
  const char* why = err == ENOSYS ? " (a kernel without io_uring)"
                    : err == EPERM || err == EACCES
                        ? " (forbidden: a seccomp profile, such as a container "
                          "runtime's default, or the kernel.io_uring_disabled "
                          "sysctl)"
                        : "";
  return absl::UnavailableError(
      absl::StrCat("io_uring_setup: ", std::strerror(err), why));
}

IoBackendPlan PlanIoBackend(IoBackend wanted, IoBackend built,
                            const std::string& other,
                            const absl::Status& uring) {
  IoBackendPlan plan;
  auto run_or_exec = [&](IoBackend target, const std::string& missing) {
    if (target == built) return plan;  // kRunHere
    if (other.empty()) {
      plan.kind = IoBackendPlan::kFail;
      plan.why = missing;
      return plan;
    }
    plan.kind = IoBackendPlan::kExec;
    plan.path = other;
    return plan;
  };
  switch (wanted) {
    case IoBackend::kEpoll:
      return run_or_exec(
          IoBackend::kEpoll,
          "--io-backend epoll: this is the io_uring build (matgto-uring) and "
          "the epoll build (matgto) is not beside it");
    case IoBackend::kIoUring:
      if (!uring.ok()) {
        plan.kind = IoBackendPlan::kFail;
        plan.why = absl::StrCat("--io-backend io_uring: ", uring.message());
        return plan;
      }
      return run_or_exec(
          IoBackend::kIoUring,
          "--io-backend io_uring: this is the epoll build and the io_uring "
          "build (matgto-uring, `make build` builds it) is not beside it");
    case IoBackend::kAuto:
      break;
  }
  // auto: io_uring where it may be used and built, else epoll; this build
  // when the other is missing (an io_uring build without io_uring fails).
  const IoBackend best = uring.ok() ? IoBackend::kIoUring : IoBackend::kEpoll;
  if (best == built) return plan;
  if (!other.empty()) {
    plan.kind = IoBackendPlan::kExec;
    plan.path = other;
    return plan;
  }
  if (built == IoBackend::kIoUring) {
    plan.kind = IoBackendPlan::kFail;
    plan.why = absl::StrCat(
        "this build (matgto-uring) runs on io_uring, which is not available "
        "here: ",
        uring.message(), "; run the epoll build (matgto) instead");
  }
  return plan;  // the epoll build without the other: runs here
}

std::string OtherBuildBesideThisOne() {
  std::error_code ec;
  const std::filesystem::path self =
      std::filesystem::read_symlink("/proc/self/exe", ec);
  if (ec) return "";
  const std::filesystem::path other =
      self.parent_path() /
      (ThisBuildIoBackend() == IoBackend::kIoUring ? "matgto" : "matgto-uring");
  if (::access(other.c_str(), X_OK) != 0) return "";
  struct stat st {};
  if (::stat(other.c_str(), &st) != 0 || !S_ISREG(st.st_mode)) return "";
  return other.string();
}

absl::Status RunOnWantedBackend(IoBackend wanted, char** argv) {
  const IoBackend built = ThisBuildIoBackend();
  const IoBackendPlan plan = PlanIoBackend(
      wanted, built, OtherBuildBesideThisOne(), IoUringAvailable());
  switch (plan.kind) {
    case IoBackendPlan::kRunHere:
      return absl::OkStatus();
    case IoBackendPlan::kFail:
      return absl::FailedPreconditionError(plan.why);
    case IoBackendPlan::kExec:
      break;
  }
  ::execv(plan.path.c_str(), argv);
  const std::string failed =
      absl::StrCat("cannot run ", plan.path, ": ", std::strerror(errno));
  if (built == IoBackend::kEpoll && wanted == IoBackend::kAuto) {
    std::fprintf(stderr, "matgto: %s; serving on epoll\n", failed.c_str());
    return absl::OkStatus();
  }
  return absl::FailedPreconditionError(failed);
}

}  // namespace matgto::app
