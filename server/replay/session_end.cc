// SessionManager's control side, the part that ends sessions: EndLocked
// (which saves a recording, then detaches the cassette and closes the
// session), Stop, lease renewal and expiry, and StopAll at shutdown. Like
// every control operation these may block on disk; opening sessions is
// session_manager.cc.
#include <malloc.h>

#include <algorithm>
#include <optional>

#include "absl/strings/cord.h"
#include "absl/strings/str_cat.h"
#include "server/cassette/proto_time.h"
#include "server/core/status_macros.h"
#include "server/replay/session_manager.h"
#include "server/replay/session_manager_internal.h"

namespace matgto::replay {
namespace {

using cassette::ToProtoTimestamp;
using internal::IsDefault;
using internal::Note;

}  // namespace

absl::StatusOr<v1::SessionSummary> SessionManager::EndLocked(
    OpenSession& session, absl::string_view reason, bool close, Notes& log,
    absl::Status* refused) {
  std::shared_ptr<CassetteSession> cassette;
  {
    absl::ReaderMutexLock lock(&mu_);
    cassette = session.cassette;
  }
  v1::SessionSummary summary;
  size_t released = 0;
  if (cassette != nullptr) {
    // Frozen first: an exchange that completes while the cassette is being
    // saved is held, not counted, so every exchange the summary counts is in
    // the saved file; if the save fails, what was held is recorded.
    // A recording that could not be read back or saved: the session goes
    // on (what was held is recorded) and its journal stays.
    auto not_saved = [&](const absl::Status& status) {
      cassette->Thaw();
      log.push_back(Note(
          v1::SessionEvent::KIND_SAVE_FAILED, session.id, cassette->name(),
          cassette->mode(),
          absl::StrCat("session ", session.id, ": could not save cassette '",
                       cassette->name(), "' (", reason,
                       "); the session stays open and its journal is kept: ",
                       status.message())));
      log.back().set_reason(std::string(reason));
      return status;
    };
    absl::StatusOr<std::optional<cassette::Recording>> frozen =
        cassette->Freeze();
    if (!frozen.ok()) return not_saved(frozen.status());
    if (std::optional<cassette::Recording>& recording = *frozen) {
      // Read back from the journal one interaction at a time as it is
      // written (a binary file store), so saving a long recording does not
      // hold it in memory.
      const absl::Time save_start = absl::Now();
      absl::StatusOr<std::string> path = store_.SaveRecording(*recording);
      released = recording->bytes();
      if (path.ok() && options_.observer != nullptr) {
        options_.observer->OnCassetteSave(absl::Now() - save_start, released);
      }
      absl::optional<absl::Cord> kept;
      if (!path.ok()) {
        kept =
            path.status().GetPayload(::matgto::cassette::kRecordingKeptPayload);
      }
      if (kept.has_value()) {
        // Refused (e.g. someone else saved the cassette first) but kept
        // elsewhere: the session ends, and the caller reports the refusal.
        log.push_back(
            Note(v1::SessionEvent::KIND_SAVE_FAILED, session.id,
                 cassette->name(), cassette->mode(),
                 absl::StrCat("session ", session.id,
                              ": could not save cassette '", cassette->name(),
                              "' (", reason, "): ", path.status().message())));
        log.back().set_reason(std::string(reason));
        summary.set_saved_path(std::string(*kept));
        summary.add_warnings(std::string(path.status().message()));
        if (refused != nullptr) *refused = path.status();
      } else if (!path.ok()) {
        return not_saved(path.status());
      } else {
        summary.set_saved_path(*std::move(path));
      }
    }
  }
  // A large recording was read back from its journal to be saved: give the
  // memory it took back to the system now, not at the next allocation.
  if (released > (16u << 20)) ::malloc_trim(0);
  const absl::Time now = clock_.Now();
  *summary.mutable_session() = Describe(session, now);
  summary.set_end_reason(std::string(reason));
  *summary.mutable_ended_at() = ToProtoTimestamp(now);
  if (cassette != nullptr) {
    for (std::string& w : cassette->Warnings()) {
      log.push_back(
          Note(v1::SessionEvent::KIND_NOTE, session.id, cassette->name(),
               cassette->mode(),
               absl::StrCat("session ", session.id, ": warning: ", w)));
      summary.add_warnings(std::move(w));
    }
  }
  std::unique_ptr<OpenSession> closed;
  {
    // Detach only after a successful save so a failed save loses nothing.
    absl::MutexLock lock(&mu_);
    if (cassette != nullptr) by_ticket_.erase(cassette->id());
    session.cassette.reset();
    session.writes = false;
    if (close && session.id != kDefaultSessionId) {
      by_route_.erase(session.route);
      auto it = sessions_.find(session.id);
      closed = std::move(it->second);
      sessions_.erase(it);
    }
    ended_.push_front(summary);
    if (ended_.size() > kMaxEndedKept) ended_.pop_back();
  }
  // Closing the listener cancels the session's connections; requests that
  // still name the session by credential now get 407.
  closed.reset();
  if (cassette != nullptr) {
    cassette->End();
    for (uint64_t i : cassette->Unused()) summary.add_unused_interactions(i);
  }
  const v1::SessionInfo& s = summary.session();
  log.push_back(Note(
      v1::SessionEvent::KIND_ENDED, s.id(), s.cassette(), s.mode(),
      absl::StrCat("session ", s.id(), " ended (", reason, ")",
                   s.cassette().empty()
                       ? ""
                       : absl::StrCat(": cassette '", s.cassette(), "'"),
                   ", recorded ", s.recorded(), ", replayed ", s.replayed(),
                   ", missed ", s.missed(),
                   summary.saved_path().empty()
                       ? ""
                       : absl::StrCat(", saved to ", summary.saved_path()))));
  log.back().set_reason(std::string(reason));
  log.back().set_saved_path(summary.saved_path());
  return summary;
}

absl::StatusOr<v1::SessionSummary> SessionManager::Stop(
    absl::string_view session_id) {
  Notes log;
  absl::StatusOr<v1::SessionSummary> summary;
  {
    absl::MutexLock control(&control_mu_);
    ASSIGN_OR_RETURN(OpenSession * session, Find(session_id));
    if (session->id == kDefaultSessionId && session->cassette == nullptr) {
      return absl::FailedPreconditionError(
          "no cassette is in use in the default session; start one with "
          "StartRecording, Replay or UseCassette");
    }
    absl::Status refused;
    summary = EndLocked(*session, "stopped", /*close=*/true, log, &refused);
    if (summary.ok() && !refused.ok()) summary = refused;
  }
  Log(log);
  return summary;
}

absl::StatusOr<absl::Time> SessionManager::Renew(absl::string_view id) {
  absl::MutexLock control(&control_mu_);
  if (IsDefault(id)) {
    return absl::FailedPreconditionError(
        "the default session has no lease to renew");
  }
  ASSIGN_OR_RETURN(OpenSession * session, Find(id));
  if (!session->lease.has_value()) {
    return absl::FailedPreconditionError(absl::StrCat(
        "session ", id, " was opened without a lease; nothing to renew"));
  }
  absl::MutexLock lock(&mu_);
  session->lease_expires_at = clock_.Now() + *session->lease;
  return session->lease_expires_at;
}

absl::Time SessionManager::NextLeaseExpiry() const {
  absl::ReaderMutexLock lock(&mu_);
  absl::Time next = absl::InfiniteFuture();
  for (const auto& [id, s] : sessions_) {
    next = std::min(next, s->lease_expires_at);
  }
  return next;
}

int SessionManager::ExpireLeases() {
  Notes log;
  int ended = 0;
  {
    absl::MutexLock control(&control_mu_);
    const absl::Time now = clock_.Now();
    std::vector<OpenSession*> expired;
    {
      absl::ReaderMutexLock lock(&mu_);
      for (const auto& [id, s] : sessions_) {
        if (s->lease_expires_at <= now) expired.push_back(s.get());
      }
    }
    for (OpenSession* s : expired) {
      log.push_back(Note(
          v1::SessionEvent::KIND_NOTE, s->id, "", v1::MODE_UNSPECIFIED,
          absl::StrCat(
              "session ", s->id, ": lease of ", absl::FormatDuration(*s->lease),
              " expired (not renewed since ",
              absl::FormatTime("%H:%M:%S", s->lease_expires_at - *s->lease,
                               absl::UTCTimeZone()),
              " UTC; owner: ", s->owner.empty() ? "unknown" : s->owner,
              "); ending it")));
      // A refused save that was kept elsewhere is in the log; the session
      // ends all the same.
      if (EndLocked(*s, "lease-expired", /*close=*/true, log, nullptr).ok()) {
        ++ended;
      } else {
        // Tried again soon; the journal keeps the recording meanwhile.
        absl::MutexLock lock(&mu_);
        s->lease_expires_at = now + absl::Seconds(5);
      }
    }
  }
  Log(log);
  return ended;
}

absl::Status SessionManager::StopAll() {
  Notes log;
  absl::Status first;
  {
    absl::MutexLock control(&control_mu_);
    std::vector<OpenSession*> open;
    {
      absl::ReaderMutexLock lock(&mu_);
      for (const auto& [id, s] : sessions_) {
        if (s->cassette != nullptr || s->id != kDefaultSessionId) {
          open.push_back(s.get());
        }
      }
    }
    for (OpenSession* s : open) {
      absl::Status refused;
      absl::Status st =
          EndLocked(*s, "shutdown", /*close=*/true, log, &refused).status();
      if (st.ok()) st = refused;
      if (first.ok()) first = st;
    }
  }
  Log(log);
  return first;
}

}  // namespace matgto::replay
