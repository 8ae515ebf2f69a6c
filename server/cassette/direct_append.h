// Appends to a file with direct I/O (O_DIRECT): from our memory to the disk,
// without the page cache.
//
// Why the journal writes this way: a recording appends ~1.4 KiB per
// exchange, a load test a gigabyte in a minute. Through the page cache each
// new page is allocated, zeroed, copied into and later written back by the
// kernel's flusher threads; on a virtual machine whose free memory went
// back to the host (balloon free-page reporting) every new page is a fault
// on the host too. Measured on the CI machine (2 cores, ext4 on virtio):
// 1.5 GB appended in 150 KB writes took 2.35 s of machine time through the
// page cache after memory was returned to the host, 0.75 s when freed pages
// were reused at once, 0.65 s with direct I/O whatever the memory's state.
// The journal is read back only when a recording stops or is recovered.
//
// Direct I/O writes whole blocks at aligned offsets from aligned memory: the
// bytes are copied into an aligned stage and the last block is padded with
// zeros, which the journal's reader skips (a zero byte reads as an empty
// entry). The stage keeps the file's last partial block, written again with
// what comes after it by the next append.
//
// Not thread-safe: one writer.
#pragma once

#include <sys/types.h>

#include <cstddef>
#include <memory>

#include "absl/strings/string_view.h"

namespace matgto::cassette {

class DirectAppender {
 public:
  // Turns direct I/O on for `fd`, whose logical end is `end` (its bytes up
  // to there are kept: the partial block before it is read back). Null when
  // the file system refuses direct I/O (tmpfs before Linux 6.6, some network
  // file systems) or the block cannot be read: the caller writes as before.
  // Blocks of kAlignment bytes (what ext4, XFS and Btrfs accept on 512-byte
  // and 4 KiB sector disks); a file system that wants more fails the first
  // write with EINVAL, and the caller turns direct I/O off (Disable).
  static std::unique_ptr<DirectAppender> Enable(int fd, off_t end);
  ~DirectAppender();
  DirectAppender(const DirectAppender&) = delete;
  DirectAppender& operator=(const DirectAppender&) = delete;

  // Turns direct I/O off again for the file (after Write failed with
  // EINVAL: an alignment the file system wants beyond kAlignment).
  void Disable();

  // Writes `bytes` at the logical end (then padded with zeros to the block's
  // end) and returns how many of them are on disk: all of them, or fewer
  // with `err` set (the errno of the write that failed). The file may then
  // hold part of the next byte's block beyond them; Settle says where the
  // caller's logical end is now.
  size_t Write(absl::string_view bytes, int& err);
  // The logical end is `end` (not before the end at the last Settle or
  // Enable, not after it plus what Write returned): the next Write starts
  // there. False when the block holding it could not be read back (then
  // direct writes cannot go on: Disable).
  [[nodiscard]] bool Settle(off_t end);
  // The bytes before `end` were zeroed in the file (the journal superseded
  // them): so are the ones the stage keeps.
  void ZeroBefore(off_t end);

  off_t end() const { return end_; }

  static constexpr size_t kAlignment = 4096;
  // The most the stage holds; a longer write goes in pieces of this size.
  static constexpr size_t kStageBytes = 1 << 20;

 private:
  DirectAppender(int fd, char* stage, off_t end);
  static off_t BlockStart(off_t at) {
    return at - static_cast<off_t>(static_cast<size_t>(at) % kAlignment);
  }
  // Loads the block holding `end` from the file into the stage's head.
  bool LoadBlock(off_t end);

  const int fd_;
  char* const stage_;  // kStageBytes, aligned to kAlignment
  off_t end_;
  // The stage's head: the bytes of [BlockStart(end_), end_); after a Write,
  // the stage holds the file's bytes from `staged_at_` on, `staged_` long.
  off_t staged_at_ = 0;
  size_t staged_ = 0;
};

}  // namespace matgto::cassette
