// The journal of a recording in progress: every recorded entry is appended
// to <cassette>.pb.journal as it happens, so a crash loses at most what was
// in flight. A clean stop saves the cassette and removes the journal; a
// server that finds a journal at start-up rebuilds the cassette from it.
#pragma once

#include <deque>
#include <memory>
#include <string>
#include <thread>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "matgto/v1/cassette.pb.h"

namespace matgto::cassette {

// Thread-safety: Append() may be called from any thread and never waits for
// the disk: one writer thread owns the file and drains a queue guarded by
// `mu_`. Flush()/Remove() block until the queue is written.
class Journal {
 public:
  // Creates (or truncates) `path`.
  static absl::StatusOr<std::unique_ptr<Journal>> Open(std::string path);
  ~Journal();

  void Append(v1::JournalEntry entry);
  // Waits until every entry appended so far is written and fsynced; returns
  // the first write error, if any.
  absl::Status Flush();
  // Flushes, closes and deletes the file.
  absl::Status Remove();
  const std::string& path() const { return path_; }

 private:
  Journal(std::string path, int fd);
  void WriterLoop();

  const std::string path_;
  int fd_;
  absl::Mutex mu_;
  std::deque<std::string> queue_ ABSL_GUARDED_BY(mu_);
  uint64_t appended_ ABSL_GUARDED_BY(mu_) = 0;
  uint64_t written_ ABSL_GUARDED_BY(mu_) = 0;
  bool stop_ ABSL_GUARDED_BY(mu_) = false;
  absl::Status error_ ABSL_GUARDED_BY(mu_);
  std::thread writer_;
};

// Rebuilds the cassette recorded in a journal's bytes. A final entry cut
// short by a crash is dropped; `source` names the file in errors.
absl::StatusOr<v1::Cassette> RecoverJournal(absl::string_view bytes,
                                            absl::string_view source);

}  // namespace matgto::cassette
