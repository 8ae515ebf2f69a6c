// The io_uring build's rings (matgto-uring; see server/app/io_backend.h).
//
// Asio 1.81 sets up each io_context's ring with io_uring_queue_init(16384,
// ring, 0): a size and flags it offers no way to change. The matgto-uring
// executable is linked with -Wl,--wrap=io_uring_queue_init, so that call
// lands here instead and sets the ring up as the proxy wants it:
// - 1024 entries instead of 16384. liburing maps the rings with
//   MAP_POPULATE, so 16384 entries (1 MiB of SQEs, 512 KiB of CQEs) were
//   1.6 MiB of resident memory per I/O thread from the start: idle RSS 16.7
//   MiB against 13.1 on epoll. Asio submits every 128 SQEs anyway and, when
//   the queue is full, submits and takes the next; completions beyond the
//   completion ring wait in the kernel (IORING_FEAT_NODROP, Linux 5.5).
// - IORING_SETUP_COOP_TASKRUN with IORING_SETUP_TASKRUN_FLAG (Linux 5.19):
//   a completion does not interrupt the I/O thread while it runs; the thread
//   takes it when it next enters the kernel (every submission and wait), and
//   the flag tells liburing's io_uring_peek_cqe, which Asio calls between
//   handlers, to enter it when completions are pending there. Kernels
//   without these flags get the ring without them.
// Measured in paired rounds on 2026-12-05 (wrk -t2 -c64 through the proxy to
// nginx, against nginx's own hop): passthrough 1.01 and record 0.92 with
// Asio's ring, 1.06 and 1.02 with 1024 entries and COOP_TASKRUN, 1.01 and
// 0.92 with 1024 entries and no flag; on epoll 0.95 and 0.89. With
// TASKRUN_FLAG too, against COOP_TASKRUN alone: 1.10 / 0.99 vs 1.06 / 0.97.
#include <liburing.h>

#include <cerrno>

extern "C" int __real_io_uring_queue_init(unsigned entries,
                                          struct io_uring* ring,
                                          unsigned flags);

namespace {
constexpr unsigned kEntries = 1024;
constexpr unsigned kFlags =
    IORING_SETUP_COOP_TASKRUN | IORING_SETUP_TASKRUN_FLAG;
}  // namespace

extern "C" int __wrap_io_uring_queue_init(unsigned entries,
                                          struct io_uring* ring,
                                          unsigned flags) {
  if (entries > kEntries) entries = kEntries;
  const int r = __real_io_uring_queue_init(entries, ring, flags | kFlags);
  if (r != -EINVAL) return r;
  return __real_io_uring_queue_init(entries, ring, flags);
}
