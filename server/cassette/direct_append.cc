#include "server/cassette/direct_append.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>

namespace matgto::cassette {

namespace {

size_t RoundUp(size_t n) {
  return (n + DirectAppender::kAlignment - 1) / DirectAppender::kAlignment *
         DirectAppender::kAlignment;
}

bool SetDirect(int fd, bool on) {
  const int flags = ::fcntl(fd, F_GETFL);
  if (flags < 0) return false;
  const int want = on ? (flags | O_DIRECT) : (flags & ~O_DIRECT);
  return want == flags || ::fcntl(fd, F_SETFL, want) == 0;
}

}  // namespace

std::unique_ptr<DirectAppender> DirectAppender::Enable(int fd, off_t end) {
  if (end < 0 || !SetDirect(fd, true)) return nullptr;
  void* stage = std::aligned_alloc(kAlignment, kStageBytes);
  if (stage == nullptr) {
    SetDirect(fd, false);
    return nullptr;
  }
  std::unique_ptr<DirectAppender> appender(
      new DirectAppender(fd, static_cast<char*>(stage), end));
  if (!appender->LoadBlock(end)) {
    appender->Disable();
    return nullptr;
  }
  return appender;
}

DirectAppender::DirectAppender(int fd, char* stage, off_t end)
    : fd_(fd), stage_(stage), end_(end) {}

DirectAppender::~DirectAppender() { std::free(stage_); }

void DirectAppender::Disable() { SetDirect(fd_, false); }

bool DirectAppender::LoadBlock(off_t end) {
  const off_t block = BlockStart(end);
  const size_t head = static_cast<size_t>(end - block);
  staged_at_ = block;
  staged_ = head;
  if (head == 0) return true;
  // Aligned both ways, as direct I/O reads must be.
  size_t got = 0;
  while (got < head) {
    const ssize_t n = ::pread(fd_, stage_ + got, kAlignment - got,
                              block + static_cast<off_t>(got));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    got += static_cast<size_t>(n);
  }
  return true;
}

size_t DirectAppender::Write(absl::string_view bytes, int& err) {
  err = 0;
  if (bytes.empty()) return 0;
  // The stage's head holds [BlockStart(end_), end_) (Settle, Enable).
  off_t at = BlockStart(end_);
  size_t head = static_cast<size_t>(end_ - at);
  size_t done = 0;
  for (;;) {
    const size_t take = std::min(kStageBytes - head, bytes.size() - done);
    std::memcpy(stage_ + head, bytes.data() + done, take);
    const size_t fill = head + take;
    // Whole blocks: the last one padded with zeros (a piece before the last
    // fills the stage, a whole number of blocks).
    const size_t len = RoundUp(fill);
    std::memset(stage_ + fill, 0, len - fill);
    staged_at_ = at;
    staged_ = fill;
    size_t off = 0;
    while (off < len) {
      const ssize_t n =
          ::pwrite(fd_, stage_ + off, len - off, at + static_cast<off_t>(off));
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) {
        err = n < 0 ? errno : EIO;
        break;
      }
      off += static_cast<size_t>(n);
    }
    const size_t durable = std::min(off, fill);
    if (durable > head) done += durable - head;
    if (off < len || done == bytes.size()) return done;
    at += static_cast<off_t>(len);
    head = 0;
  }
}

bool DirectAppender::Settle(off_t end) {
  end_ = end;
  const off_t block = BlockStart(end);
  const size_t head = static_cast<size_t>(end - block);
  if (head == 0) {
    staged_at_ = block;
    staged_ = 0;
    return true;
  }
  if (block >= staged_at_ && end <= staged_at_ + static_cast<off_t>(staged_)) {
    std::memmove(stage_, stage_ + (block - staged_at_), head);
    staged_at_ = block;
    staged_ = head;
    return true;
  }
  return LoadBlock(end);
}

void DirectAppender::ZeroBefore(off_t end) {
  const off_t block = BlockStart(end_);
  if (end <= block) return;
  std::memset(stage_, 0, static_cast<size_t>(std::min(end, end_) - block));
}

}  // namespace matgto::cassette
