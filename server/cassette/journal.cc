#include "server/cassette/journal.h"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>

#include "absl/strings/str_cat.h"
#include "google/protobuf/io/coded_stream.h"
#include "server/cassette/direct_append.h"
#include "server/cassette/spooled.h"
#include "server/core/status_macros.h"
#include "server/core/thread_name.h"

namespace matgto::cassette {

namespace {

std::string ErrnoText(int err) { return std::strerror(err); }

absl::Status JournalError(absl::string_view what, const std::string& path,
                          int err) {
  std::string msg = absl::StrCat(what, " ", path, ": ", ErrnoText(err));
  if (err == ENOSPC || err == EDQUOT || err == EFBIG) {
    return absl::ResourceExhaustedError(msg);
  }
  if (err == EACCES || err == EPERM) return absl::PermissionDeniedError(msg);
  return absl::InternalError(msg);
}

}  // namespace

absl::StatusOr<std::unique_ptr<Journal>> Journal::Open(std::string path,
                                                       mode_t mode) {
  const size_t slash = path.rfind('/');
  const std::string dir = slash == std::string::npos
                              ? "."
                              : path.substr(0, std::max<size_t>(slash, 1));
  std::string leaf = slash == std::string::npos ? path : path.substr(slash + 1);
  const int dir_fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dir_fd < 0) {
    return JournalError("cannot open the directory of journal", path, errno);
  }
  return OpenAt(dir_fd, std::move(leaf), std::move(path), mode);
}

absl::StatusOr<std::unique_ptr<Journal>> Journal::OpenAt(int dir_fd,
                                                         std::string leaf,
                                                         std::string path,
                                                         mode_t mode) {
  auto fail = [&](absl::Status st) {
    ::close(dir_fd);
    return st;
  };
  // Another process may remove the file between our open and our lock (a
  // recording that ends): lock, then check the name still leads to it.
  for (int attempt = 0;; ++attempt) {
    const int fd = ::openat(dir_fd, leaf.c_str(),
                            O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, mode);
    if (fd < 0) {
      if (errno == ELOOP) {
        return fail(absl::PermissionDeniedError(absl::StrCat(
            "journal ", path,
            " is a symbolic link; matgto does not follow links in the "
            "cassette directory")));
      }
      return fail(JournalError("cannot create journal", path, errno));
    }
    auto close_and = [&](absl::Status st) {
      ::close(fd);
      return fail(std::move(st));
    };
    if (::flock(fd, LOCK_EX | LOCK_NB) != 0) {
      if (errno == EWOULDBLOCK) {
        return close_and(absl::FailedPreconditionError(absl::StrCat(
            "journal ", path,
            " is locked by another process: another matgto server using "
            "this cassette directory is recording this cassette. Stop that "
            "recording first, or use another cassette name")));
      }
      return close_and(JournalError("cannot lock journal", path, errno));
    }
    struct stat opened {};
    struct stat named {};
    if (::fstat(fd, &opened) != 0) {
      return close_and(JournalError("cannot stat journal", path, errno));
    }
    if (::fstatat(dir_fd, leaf.c_str(), &named, AT_SYMLINK_NOFOLLOW) != 0 ||
        named.st_ino != opened.st_ino || named.st_dev != opened.st_dev) {
      ::close(fd);
      if (attempt < 8) continue;
      return fail(absl::UnavailableError(absl::StrCat(
          "journal ", path, " keeps being replaced by another process")));
    }
    if (opened.st_size > 0) {
      return close_and(absl::FailedPreconditionError(absl::StrCat(
          "journal ", path,
          " holds an interrupted recording that was not recovered (see the "
          "server's start-up log); recording this cassette would overwrite "
          "it. Restart the server to recover it, or move the file away")));
    }
    // Exactly `mode`, whatever the umask (and for a file created earlier).
    if (::fchmod(fd, mode) != 0) {
      return close_and(
          JournalError("cannot set the mode of journal", path, errno));
    }
    return std::unique_ptr<Journal>(
        new Journal(std::move(path), dir_fd, std::move(leaf), fd, mode));
  }
}

Journal::Journal(std::string path, int dir_fd, std::string leaf, int fd,
                 mode_t mode)
    : path_(std::move(path)),
      dir_fd_(dir_fd),
      leaf_(std::move(leaf)),
      fd_(fd),
      direct_(DirectAppender::Enable(fd, 0)),
      body_spooler_(MakeBodySpooler(
          dir_fd, std::filesystem::path(path_).parent_path().string(), leaf_,
          mode)),
      writer_([this] {
        core::NameThisThread("matgto-journal");
        // Below the I/O threads (nice 5: a third of their weight), so that
        // waking it for a batch does not preempt one mid-exchange; it
        // needs a few percent of a core, and still gets its share when
        // every core is busy.
        ::setpriority(PRIO_PROCESS, static_cast<id_t>(::gettid()), 5);
        WriterLoop();
      }) {}

Journal::~Journal() {
  {
    absl::MutexLock lock(&mu_);
    stop_ = true;
  }
  CutPause();
  writer_.join();
  ::close(fd_);  // releases the lock
  ::close(dir_fd_);
}

void Journal::Append(const v1::JournalEntry& entry) { Enqueue(entry, false); }

void Journal::Replace(const v1::JournalEntry& begin) { Enqueue(begin, true); }

void Journal::Enqueue(const v1::JournalEntry& entry, bool supersedes) {
  const size_t size = entry.ByteSizeLong();
  absl::MutexLock lock(&mu_);
  Run& run = OpenRun(supersedes);
  const size_t start = run.bytes.size();
  run.bytes.resize(start +
                   google::protobuf::io::CodedOutputStream::VarintSize32(
                       static_cast<uint32_t>(size)) +
                   size);
  uint8_t* p = reinterpret_cast<uint8_t*>(run.bytes.data() + start);
  p = google::protobuf::io::CodedOutputStream::WriteVarint32ToArray(
      static_cast<uint32_t>(size), p);
  entry.SerializeWithCachedSizesToArray(p);
  Pushed(run, start);
}

void Journal::AppendRecord(absl::string_view record) {
  absl::MutexLock lock(&mu_);
  Run& run = OpenRun(false);
  const size_t start = run.bytes.size();
  run.bytes.append(record.data(), record.size());
  Pushed(run, start);
}

Journal::Run& Journal::OpenRun(bool supersedes) {
  if (!supersedes && !queue_.empty() && !queue_.back().supersedes) {
    return queue_.back();
  }
  queue_.push_back(std::move(spare_));
  spare_ = Run{};
  Run& run = queue_.back();
  run.bytes.clear();
  run.ends.clear();
  run.supersedes = supersedes;
  return run;
}

void Journal::Pushed(Run& run, size_t start) {
  const absl::string_view record = absl::string_view(run.bytes).substr(start);
  run.ends.push_back(run.bytes.size());
  appended_bytes_ += record.size();
  if (grams_state_ != GramsState::kLapsed) {
    grams_.Add(record);
    const uint64_t grown = appended_bytes_ - grams_asked_at_;
    if (grown > kGramsLapseBytes && grown > grams_asked_at_ / 4) {
      grams_state_ = GramsState::kLapsed;  // built again when asked
    }
  }
  ++appended_;
  kick_ = true;
}

void Journal::CutPause() {
  {
    absl::MutexLock lock(&pause_mu_);
    pause_cut_ = true;
  }
  pause_cv_.Signal();
}

absl::Status Journal::Supersede(off_t end) {
  if (::fdatasync(fd_) != 0) {
    return JournalError("cannot fsync journal", path_, errno);
  }
  // Freed blocks read back as zeros; where the file system cannot punch
  // holes, zeros are written instead.
  if (::fallocate(fd_, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, 0, end) ==
      0) {
    if (direct_ != nullptr) direct_->ZeroBefore(end);
  } else {
    // (Unaligned writes: not with direct I/O.)
    if (direct_ != nullptr) StopDirect();
    const std::string zeros(64 * 1024, '\0');
    for (off_t at = 0; at < end;) {
      const size_t n = static_cast<size_t>(
          std::min<off_t>(end - at, static_cast<off_t>(zeros.size())));
      const ssize_t w = ::pwrite(fd_, zeros.data(), n, at);
      if (w < 0 && errno == EINTR) continue;
      if (w <= 0) {
        return JournalError("cannot overwrite superseded journal entries in",
                            path_, w < 0 ? errno : EIO);
      }
      at += w;
    }
  }
  if (::fdatasync(fd_) != 0) {
    return JournalError("cannot fsync journal", path_, errno);
  }
  return absl::OkStatus();
}

size_t Journal::WriteBatch(std::deque<Run>& batch, uint64_t& records,
                           absl::Status& st) {
  records = 0;
  if (dirty_) {
    if (::ftruncate(fd_, good_size_) != 0) {
      st = JournalError("cannot cut back journal", path_, errno);
      return 0;
    }
    dirty_ = false;
  }
  size_t done = 0;
  for (Run& run : batch) {
    const off_t start = good_size_;
    const size_t whole = WriteRun(run, st);
    records += whole;
    if (!st.ok()) return done;
    ++done;
    if (run.supersedes && start > 0) {
      // Written: the earlier records are superseded. Should zeroing fail,
      // the new kBegin still wins at recovery; the error is reported (and
      // the runs after it are written on the next attempt).
      st = Supersede(start);
      if (!st.ok()) return done;
    }
  }
  return done;
}

void Journal::StopDirect() {
  direct_->Disable();
  direct_.reset();
}

size_t Journal::WriteRun(Run& run, absl::Status& st) {
  const size_t total = run.bytes.size();
  size_t written = 0;
  int err = 0;
  if (direct_ != nullptr) {
    written = direct_->Write(run.bytes, err);
    // A file system wanting other alignment, or a size limit cutting a
    // block short: through the page cache from now on.
    if (written == 0 && err == EINVAL) StopDirect();
  }
  if (direct_ == nullptr) {
    while (written < total) {
      const ssize_t n =
          ::pwrite(fd_, run.bytes.data() + written, total - written,
                   good_size_ + static_cast<off_t>(written));
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) {
        err = n < 0 ? errno : EIO;
        break;
      }
      written += static_cast<size_t>(n);
    }
  }
  if (written < total) {
    st = JournalError("cannot write journal", path_, err != 0 ? err : EIO);
  }
  // The records written whole (a short write is rare: a full disk, a
  // signal).
  const size_t whole = static_cast<size_t>(
      std::upper_bound(run.ends.begin(), run.ends.end(), written) -
      run.ends.begin());
  const size_t bytes = whole == 0 ? 0 : run.ends[whole - 1];
  good_size_ += static_cast<off_t>(bytes);
  if (whole < run.records()) {
    // Kept for the next attempt: only what was not written.
    run.bytes.erase(0, bytes);
    run.ends.erase(run.ends.begin(),
                   run.ends.begin() + static_cast<ptrdiff_t>(whole));
    for (size_t& end : run.ends) end -= bytes;
  }
  // A torn record would hide every later one from recovery: cut it off (or
  // try again before the next write).
  if (written > bytes && ::ftruncate(fd_, good_size_) != 0) dirty_ = true;
  if (direct_ != nullptr && !direct_->Settle(good_size_)) StopDirect();
  return whole;
}

void Journal::WriterLoop() {
  bool wrote = false;
  std::deque<Run> batch;
  for (;;) {
    if (wrote) {
      // Group commit: after a write, entries are gathered for a moment
      // (unless a Flush or the close waits), so that a busy recording
      // costs one wake-up and one write per batch, not per exchange.
      absl::MutexLock lock(&pause_mu_);
      if (!pause_cut_) {
        pause_cv_.WaitWithTimeout(&pause_mu_, kGroupCommitWindow);
      }
      pause_cut_ = false;
    }
    {
      absl::MutexLock lock(&mu_);
      const absl::Condition ready(
          +[](Journal* j) ABSL_NO_THREAD_SAFETY_ANALYSIS {
            return j->stop_ ||
                   (!j->queue_.empty() && (j->error_.ok() || j->kick_));
          },
          this);
      if (error_.ok()) {
        mu_.Await(ready);
      } else {
        // After a failure, try again when asked (new entries, a Flush) or
        // after a while, whichever comes first.
        mu_.AwaitWithTimeout(ready, kRetryInterval);
      }
      if (queue_.empty()) {
        if (stop_) return;
        wrote = false;
        continue;
      }
      kick_ = false;
      batch.swap(queue_);
    }
    absl::Status st;
    uint64_t records = 0;
    const size_t done = WriteBatch(batch, records, st);
    wrote = st.ok();
    absl::MutexLock lock(&mu_);
    written_ += records;
    ++attempts_;
    error_ = st;
    if (!st.ok()) {
      // Kept, in order, ahead of anything appended meanwhile (the run cut
      // short holds only what was not written).
      for (size_t i = batch.size(); i > done; --i) {
        queue_.push_front(std::move(batch[i - 1]));
      }
      batch.clear();
      // Closing: the recording was saved (or its save failed and reported).
      if (stop_) return;
      continue;
    }
    // The first run's memory serves the next run (see Run). (A string
    // never reports a capacity of 0: an empty one has its short-string
    // buffer's.)
    if (batch.front().bytes.capacity() > spare_.bytes.capacity() &&
        batch.front().bytes.capacity() <= kKeepRunBytes) {
      spare_ = std::move(batch.front());
    }
    batch.clear();
    if (stop_ && queue_.empty()) return;
  }
}

absl::Status Journal::Flush() {
  RETURN_IF_ERROR(WaitWritten());
  if (::fsync(fd_) != 0) {
    return JournalError("cannot fsync journal", path_, errno);
  }
  return absl::OkStatus();
}

absl::Status Journal::WithWrittenBytes(
    absl::FunctionRef<void(absl::string_view)> use) {
  RETURN_IF_ERROR(WaitWritten());
  struct stat st {};
  if (::fstat(fd_, &st) != 0) {
    return JournalError("cannot stat journal", path_, errno);
  }
  if (st.st_size == 0) {
    use(absl::string_view());
    return absl::OkStatus();
  }
  void* data = ::mmap(nullptr, static_cast<size_t>(st.st_size), PROT_READ,
                      MAP_PRIVATE, fd_, 0);
  if (data == MAP_FAILED) {
    return JournalError("cannot map journal", path_, errno);
  }
  use(absl::string_view(static_cast<const char*>(data),
                        static_cast<size_t>(st.st_size)));
  ::munmap(data, static_cast<size_t>(st.st_size));
  return absl::OkStatus();
}

absl::StatusOr<bool> Journal::Holds(const Scrubber& scrubber) {
  if (scrubber.empty()) return false;
  bool found = false;
  RETURN_IF_ERROR(WithWrittenBytes([&](absl::string_view bytes) {
    found = !bytes.empty() && scrubber.Finds(bytes);
  }));
  return found;
}

bool Journal::LiveGrams() {
  {
    absl::MutexLock lock(&mu_);
    if (grams_state_ != GramsState::kLapsed) {
      return grams_state_ == GramsState::kLive;
    }
    // Entries appended from now on are added as they come; those before
    // are read from the file.
    grams_.Clear();
    grams_asked_at_ = appended_bytes_;
    grams_state_ =
        appended_bytes_ == 0 ? GramsState::kLive : GramsState::kBuilding;
    if (grams_state_ == GramsState::kLive) return true;
  }
  // Summarised outside the lock (appending goes on), then merged.
  GramFilter from_file;
  const bool read = WithWrittenBytes([&](absl::string_view bytes) {
                      from_file.Add(bytes);
                    }).ok();
  absl::MutexLock lock(&mu_);
  if (grams_state_ != GramsState::kBuilding) return false;  // lapsed meanwhile
  if (!read) {
    grams_state_ = GramsState::kLapsed;  // tried again on the next call
    return false;
  }
  grams_.Merge(from_file);
  grams_state_ = GramsState::kLive;
  return true;
}

bool Journal::MayHold(const std::vector<std::string>& forms) {
  if (!LiveGrams()) return true;
  absl::MutexLock lock(&mu_);
  grams_asked_at_ = appended_bytes_;
  if (grams_state_ != GramsState::kLive) return true;
  for (const std::string& form : forms) {
    if (grams_.MayContain(form)) return true;
  }
  return false;
}

uint64_t Journal::AppendedBytes() {
  absl::MutexLock lock(&mu_);
  return appended_bytes_;
}

absl::Status Journal::WaitWritten() {
  {
    absl::MutexLock lock(&mu_);
    kick_ = true;
    // (Under mu_: the writer takes pause_mu_ and mu_ one at a time.)
    CutPause();
    struct Wait {
      Journal* journal;
      uint64_t target;
      uint64_t attempts;
    } wait{this, appended_, attempts_};
    mu_.Await(absl::Condition(
        +[](Wait* w) ABSL_NO_THREAD_SAFETY_ANALYSIS {
          return w->journal->written_ >= w->target ||
                 (!w->journal->error_.ok() &&
                  w->journal->attempts_ > w->attempts);
        },
        &wait));
    if (written_ < wait.target) return error_;
  }
  return absl::OkStatus();
}

absl::Status Journal::Remove() {
  absl::Status st = Flush();
  if (::unlinkat(dir_fd_, leaf_.c_str(), 0) != 0 && errno != ENOENT &&
      st.ok()) {
    st = JournalError("cannot remove journal", path_, errno);
  }
  RemoveBodyFiles(dir_fd_, leaf_);
  return st;
}

absl::StatusOr<Recording> Journal::ReadBack() {
  RETURN_IF_ERROR(Flush());
  const int fd =
      ::openat(dir_fd_, leaf_.c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
  if (fd < 0) return JournalError("cannot read journal", path_, errno);
  return ReadJournal(fd, path_, /*resolve_bodies=*/true);
}

absl::StatusOr<v1::Cassette> Journal::Recover() {
  ASSIGN_OR_RETURN(Recording recording, ReadBack());
  return recording.Whole();
}

}  // namespace matgto::cassette
