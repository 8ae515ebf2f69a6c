// The journal of a recording in progress: every recorded entry is appended
// to <cassette>.pb.journal as it happens, so a crash loses at most what was
// in flight. A clean stop saves the cassette and removes the journal; a
// server that finds a journal at start-up rebuilds the cassette from it.
//
// A live journal is locked (flock, exclusive) by the process that writes it,
// so another server on the same cassette directory neither recovers it at
// start-up nor records the same cassette over it. A failed write (a full
// disk) never leaves a torn record in the middle of the file: the file is cut
// back to the last complete record, and the entries that could not be written
// are kept, in order, and written again once the disk takes them.
#pragma once

#include <sys/types.h>

#include <climits>
#include <deque>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/functional/function_ref.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "matgto/v1/cassette.pb.h"
#include "server/cassette/direct_append.h"
#include "server/cassette/gram_filter.h"
#include "server/cassette/recording.h"
#include "server/cassette/secrets.h"
#include "server/core/spool.h"

namespace matgto::cassette {

// Mode of the cassettes and journals a store creates (they may hold secrets
// the redaction rules missed).
inline constexpr mode_t kDefaultFileMode = 0600;

// Thread-safety: Append() may be called from any thread and never waits for
// the disk: one writer thread owns the file and drains a queue guarded by
// `mu_`. Flush()/Remove() block until the queue is written (or a write
// attempt made after they were called failed).
class Journal {
 public:
  // Opens `path` for a new recording, created with `mode` (exactly: the umask
  // does not apply) and locked. FAILED_PRECONDITION when another process
  // holds it (it records the same cassette) or when it already holds entries
  // (an interrupted recording that was not recovered: it is never
  // truncated); PERMISSION_DENIED when `path` is a symbolic link.
  static absl::StatusOr<std::unique_ptr<Journal>> Open(
      std::string path, mode_t mode = kDefaultFileMode);
  // As Open, for the file `leaf` of the directory `dir_fd` (taken over: the
  // journal closes it), which `path` names in messages.
  static absl::StatusOr<std::unique_ptr<Journal>> OpenAt(
      int dir_fd, std::string leaf, std::string path,
      mode_t mode = kDefaultFileMode);
  ~Journal();

  // Serialises `entry` now, on the calling thread (the writer gets bytes).
  void Append(const v1::JournalEntry& entry);
  // Appends `record`, a record as the journal holds them (the varint
  // length of a serialised v1::JournalEntry, then the entry), encoded by
  // the caller: HttpInteractionRecord::Finish's, what a recording appends
  // per exchange. One copy, into the queue.
  void AppendRecord(absl::string_view record);
  // Appends `begin` (a kBegin entry holding the whole cassette so far) and,
  // once it is on disk, overwrites every earlier record with zeros and frees
  // their blocks: the recorder calls it when it learned a secret that earlier
  // entries hold (see Recorder::CatchUpSecrets), so the file no longer has
  // it. Recovery reads a zero byte as an empty entry and the later kBegin
  // replaces whatever came before, so the journal recovers the same cassette
  // at every instant (a crash between the two steps leaves the old bytes,
  // which the new kBegin supersedes).
  void Replace(const v1::JournalEntry& begin);
  // Waits until every entry appended so far is written and fsynced, and
  // returns OK; or returns the write error when an attempt made after this
  // call failed (the entries stay queued and are tried again).
  absl::Status Flush();
  // Flushes, then reads the recording so far back from the file (see
  // ReadJournal): the recording's only copy when the recorder keeps nothing
  // in memory. Its interactions are read when it is written, from a
  // descriptor it holds: it stays readable after Remove(). Any size: a
  // binary cassette is written from it one interaction at a time.
  absl::StatusOr<Recording> ReadBack();
  // ReadBack, whole in memory: RESOURCE_EXHAUSTED over 2 GiB (see
  // Recording::Whole).
  absl::StatusOr<v1::Cassette> Recover();
  // Whether `scrubber` finds a secret anywhere in the bytes of the entries
  // appended so far (waits until they are written, not synced): a cheap
  // look for a secret before reading every entry back. Protobuf keeps
  // strings as they are, so an entry whose fields hold a secret as text
  // holds it in its bytes; a body stored content-encoded may hide one.
  absl::StatusOr<bool> Holds(const Scrubber& scrubber);
  // False when none of `forms` (SecretForms) can be in the entries appended
  // so far; true when one may be (Holds then looks). The entries' bytes are
  // summarised as they are appended (GramFilter), so a recording that
  // learns a secret per exchange (a new token on every request) need not
  // read its journal back for each. The summary is kept only while it is
  // asked for: once the journal has grown by kGramsLapseBytes and by a
  // quarter since the last call, appending stops adding to it, and the next
  // call builds it again from the file (waiting until every entry is
  // written). A recording that learns no secret, or learns its few at the
  // start, thus does not summarise every exchange, and one that learns
  // them now and then reads its journal at most once per quarter of growth.
  bool MayHold(const std::vector<std::string>& forms);
  // Bytes of every entry appended so far (what Holds may have to read).
  uint64_t AppendedBytes();
  // Flushes, deletes the file and releases it.
  absl::Status Remove();
  const std::string& path() const { return path_; }
  // Where the recording's bodies too large to hold in memory go: files
  // <journal>.body-<n> beside it (spooled.h), removed with it. Recover()
  // gives their responses a spooled_body with the file's path.
  const std::shared_ptr<core::BodySpooler>& body_spooler() const {
    return body_spooler_;
  }

  // The memory kept for the next run of records (tests: a written run's
  // memory is reused, not allocated again for every batch).
  size_t SpareRunCapacityForTest() {
    absl::MutexLock lock(&mu_);
    return spare_.bytes.capacity();
  }
  // How long the writer waits before trying a failed write again when
  // nothing new is appended.
  static constexpr absl::Duration kRetryInterval = absl::Seconds(1);
  // How far the journal grows past the last MayHold (and by a quarter)
  // before its summary lapses.
  static constexpr uint64_t kGramsLapseBytes = 1 << 20;
  // How long the writer gathers entries after a write before the next one
  // (a crash loses at most this much more than what was in flight).
  static constexpr absl::Duration kGroupCommitWindow = absl::Milliseconds(2);

 private:
  // Serialized entries (length-prefixed), back to back: `ends` says where
  // each ends. `supersedes`: its one record was written by Replace.
  // Appending copies bytes into a run whose memory the writer hands back
  // after writing it (two runs take turns), so a busy recording neither
  // allocates per entry nor frees on another thread than it allocated.
  struct Run {
    std::string bytes;
    std::vector<size_t> ends;
    bool supersedes = false;
    size_t records() const { return ends.size(); }
  };
  // The most of a written run's memory kept for the next one.
  static constexpr size_t kKeepRunBytes = 4 << 20;

  Journal(std::string path, int dir_fd, std::string leaf, int fd, mode_t mode);
  void Enqueue(const v1::JournalEntry& entry, bool supersedes);
  // The run a new record goes at the end of (a new one for a record that
  // supersedes, or after one).
  Run& OpenRun(bool supersedes) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Ends the record that OpenRun's run holds from `start` on.
  void Pushed(Run& run, size_t start) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Ends the group-commit pause now (a Flush, the close).
  void CutPause();
  // Waits until every entry appended so far is written (Flush without the
  // fsync).
  absl::Status WaitWritten();
  // WaitWritten, then calls `use` with the file's bytes (mapped, not read
  // into memory): what Holds searches and LiveGrams summarises.
  absl::Status WithWrittenBytes(absl::FunctionRef<void(absl::string_view)> use);
  void WriterLoop();
  // Writes `batch` after the last complete record; on an error, cuts the
  // file back to it and sets `st`. Returns how many runs were written
  // whole, and in `records` how many records. A run cut short is left
  // holding only its records that were not written. Writer thread only.
  size_t WriteBatch(std::deque<Run>& batch, uint64_t& records,
                    absl::Status& st);
  // Writes `run` (one syscall unless the disk takes part of it); the same
  // contract as WriteBatch for it: returns how many of its records were
  // written.
  size_t WriteRun(Run& run, absl::Status& st);
  // Zeros [0, end) after an fsync (see Replace). Writer thread only.
  absl::Status Supersede(off_t end);
  // Writes through the page cache from now on.
  void StopDirect();

  const std::string path_;
  const int dir_fd_;
  const std::string leaf_;
  const int fd_;
  // Writes with direct I/O while the file system allows it (see
  // direct_append.h); null: through the page cache. Writer thread only
  // (set before it starts).
  std::unique_ptr<DirectAppender> direct_;
  const std::shared_ptr<core::BodySpooler> body_spooler_;
  // End of the last complete record; the file may be longer only while
  // `dirty_` (a cut that failed), or by the zeros that pad direct writes to
  // a block (read as empty entries). Writer thread only.
  off_t good_size_ = 0;
  bool dirty_ = false;

  absl::Mutex mu_;
  // Records not yet written, in order (failed ones first).
  std::deque<Run> queue_ ABSL_GUARDED_BY(mu_);
  // A written run's memory, for the next run.
  Run spare_ ABSL_GUARDED_BY(mu_);
  uint64_t appended_ ABSL_GUARDED_BY(mu_) = 0;
  uint64_t appended_bytes_ ABSL_GUARDED_BY(mu_) = 0;
  uint64_t written_ ABSL_GUARDED_BY(mu_) = 0;
  // Completed write attempts, and whether one is asked for now (new entries,
  // or a Flush) although the last one failed.
  uint64_t attempts_ ABSL_GUARDED_BY(mu_) = 0;
  bool kick_ ABSL_GUARDED_BY(mu_) = false;
  // The writer's group-commit pause, cut short when a Flush or the close
  // waits. It waits on its own lock, not on mu_: a thread waiting with a
  // condition on a mutex makes every unlock of it take the slow path
  // (absl::Mutex evaluates the condition), which would be every Append's.
  // Lock order: mu_, then pause_mu_.
  absl::Mutex pause_mu_ ABSL_ACQUIRED_AFTER(mu_);
  absl::CondVar pause_cv_;
  bool pause_cut_ ABSL_GUARDED_BY(pause_mu_) = false;
  bool stop_ ABSL_GUARDED_BY(mu_) = false;
  // The error of the last attempt; OK once a retry succeeds.
  absl::Status error_ ABSL_GUARDED_BY(mu_);
  // Every record appended (a superseded one too: it may still be on disk
  // should zeroing it fail) while it is live; see MayHold. kLapsed: records
  // are no longer added; kBuilding: they are, and those before are being
  // read from the file (nothing is ruled out until it is kLive again).
  enum class GramsState { kLapsed, kBuilding, kLive };
  GramFilter grams_ ABSL_GUARDED_BY(mu_);
  GramsState grams_state_ ABSL_GUARDED_BY(mu_) = GramsState::kLapsed;
  // appended_bytes_ at the last MayHold.
  uint64_t grams_asked_at_ ABSL_GUARDED_BY(mu_) = 0;
  // Makes grams_ live, built from the file when it had lapsed; false when it
  // cannot rule anything out now (the file could not be read, it lapsed
  // again meanwhile, or another call is building it).
  bool LiveGrams();
  std::thread writer_;
};

// The recording a journal holds, read from `fd` (taken over: the recording
// closes it), which `source` names in errors: the cassette as its last
// start entry left it, with the interactions, WebSocket messages and closes
// appended after it. A final entry cut short by a crash is left out.
// DATA_LOSS without a readable start entry, or with times out of range.
// Any size: protobuf's CodedInputStream reads at most `stream_bytes` (2 GiB)
// in its life, so each record is read by one of its own (tests lower it to
// cross that limit with a small journal). Only Recording::Whole refuses a
// recording over 2 GiB.
// The interactions are read one at a time when the recording is written
// (see journal_read.cc). With `resolve_bodies`, spooled bodies are looked up
// beside `source` (ResolveSpooledBody) and an interaction whose file is
// missing is left out (Recording::Dropped says which).
absl::StatusOr<Recording> ReadJournal(int fd, std::string source,
                                      bool resolve_bodies,
                                      int stream_bytes = INT_MAX);
// The cassette recorded in a journal's bytes, whole (ReadJournal without
// body files).
absl::StatusOr<v1::Cassette> RecoverJournal(absl::string_view bytes,
                                            absl::string_view source);

}  // namespace matgto::cassette
