// SessionManager's control side, the part that opens sessions: the
// constructor, lookup of open sessions and of cassettes in use, Use (which
// opens a session or swaps its cassette, loading or creating it first), and
// a session's fault rules (SetFaults, ClearFaults). Ending sessions (Stop,
// lease expiry, shutdown) is session_end.cc; the request path is
// session_requests.cc; what is reported about sessions, session_status.cc.
#include "server/replay/session_manager.h"

#include <algorithm>
#include <optional>

#include "absl/random/random.h"
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "google/protobuf/util/time_util.h"
#include "server/cassette/name.h"
#include "server/core/status_macros.h"
#include "server/replay/rules.h"
#include "server/replay/session_manager_internal.h"

namespace matgto::replay {
namespace {

using google::protobuf::util::TimeUtil;
using internal::IsDefault;
using internal::Note;

std::string ModeWord(v1::Mode mode) {
  return absl::AsciiStrToLower(v1::Mode_Name(mode));
}

}  // namespace

SessionManager::SessionManager(cassette::CassetteStore& store,
                               cassette::RedactConfig redact,
                               const core::Clock& clock, v1::Mode default_mode)
    : SessionManager(store, std::move(redact), clock,
                     SessionManagerOptions{.default_mode = default_mode,
                                           .max_sessions = 256,
                                           .listeners = nullptr,
                                           .log = nullptr,
                                           .observer = nullptr}) {}

SessionManager::SessionManager(cassette::CassetteStore& store,
                               cassette::RedactConfig redact,
                               const core::Clock& clock,
                               SessionManagerOptions options)
    : store_(store),
      default_redaction_(std::move(redact)),
      clock_(clock),
      options_([&] {
        if (options.default_mode == v1::MODE_UNSPECIFIED) {
          options.default_mode = v1::AUTO;
        }
        return std::move(options);
      }()),
      no_cassette_response_(
          std::make_shared<const core::HttpResponse>(core::MakeErrorResponse(
              503, "no-cassette",
              "matgto: no cassette is in use, so this request was neither "
              "forwarded nor answered. Start one with `matgto record NAME`, "
              "`matgto replay NAME` or `matgto use NAME`, or run the server "
              "with --mode passthrough to forward requests while idle.\n"))),
      unknown_session_response_([] {
        core::HttpResponse r = core::MakeErrorResponse(
            407, "unknown-session",
            "matgto: the proxy credential names no open session (it was "
            "never opened, or it ended: stopped, or its lease expired). Use "
            "the proxy URL a session was opened with, or no credential for "
            "the default session.\n");
        r.headers.push_back({"Proxy-Authenticate", "Basic realm=\"matgto\""});
        return std::make_shared<const core::HttpResponse>(std::move(r));
      }()) {
  absl::BitGen gen;
  id_state_ = absl::Uniform<uint64_t>(gen);
  auto def = std::make_unique<OpenSession>();
  def->id = std::string(kDefaultSessionId);
  def->opened_at = clock_.Now();
  absl::MutexLock lock(&mu_);
  by_route_[0] = def.get();
  sessions_.emplace(def->id, std::move(def));
}

SessionManager::~SessionManager() = default;

std::string SessionManager::SharedAddress() const {
  return options_.listeners != nullptr ? options_.listeners->shared_address()
                                       : "";
}

void SessionManager::Log(Notes notes) const {
  for (v1::SessionEvent& note : notes) {
    if (options_.log) options_.log(note.message());
    if (options_.observer == nullptr) continue;
    const observe::LogLevel level =
        note.kind() == v1::SessionEvent::KIND_SAVE_FAILED
            ? observe::LogLevel::kError
        : absl::StrContains(note.message(), ": warning: ")
            ? observe::LogLevel::kWarn
            : observe::LogLevel::kInfo;
    options_.observer->OnSession(std::move(note), level);
  }
}

std::string SessionManager::NewSessionId() {
  // Unguessable enough that one test cannot stumble onto another's session
  // (ids are not secrets: the control API is where access is decided).
  absl::BitGen gen;
  for (;;) {
    id_state_ ^= absl::Uniform<uint64_t>(gen);
    std::string id = absl::StrFormat("s-%016x", id_state_);
    absl::ReaderMutexLock lock(&mu_);
    if (!sessions_.contains(id)) return id;
  }
}

absl::StatusOr<SessionManager::OpenSession*> SessionManager::Find(
    absl::string_view id) {
  absl::ReaderMutexLock lock(&mu_);
  auto it = sessions_.find(IsDefault(id) ? kDefaultSessionId : id);
  if (it != sessions_.end()) return it->second.get();
  for (const v1::SessionSummary& ended : ended_) {
    if (ended.session().id() == id) {
      return absl::NotFoundError(
          absl::StrCat("session '", id, "' has ended (", ended.end_reason(),
                       " at ", TimeUtil::ToString(ended.ended_at()),
                       "); open a new one with new_session"));
    }
  }
  return absl::NotFoundError(
      absl::StrCat("no open session has id '", id,
                   "'; open one with new_session, or leave the session "
                   "empty for the default session"));
}

absl::Status SessionManager::CheckConflicts(absl::string_view name, bool writes,
                                            const OpenSession* except) const {
  absl::ReaderMutexLock lock(&mu_);
  for (const auto& [id, s] : sessions_) {
    if (s.get() == except || s->cassette == nullptr ||
        s->cassette->name() != name) {
      continue;
    }
    if (!writes && !s->writes) continue;  // replaying side by side is fine
    const std::string holder = absl::StrCat(
        "session ", s->id,
        s->owner.empty() ? "" : " (owner: ", s->owner.empty() ? "" : s->owner,
        s->owner.empty() ? "" : ")");
    if (s->writes) {
      return absl::FailedPreconditionError(absl::StrCat(
          "cassette '", name, "' is being recorded by ", holder,
          "; two sessions cannot use a cassette while one records it. "
          "Stop that session first, or use another cassette name"));
    }
    return absl::FailedPreconditionError(absl::StrCat(
        "cassette '", name, "' is being replayed by ", holder,
        "; recording it now would replace it under that session. Stop "
        "that session first, or use another cassette name"));
  }
  return absl::OkStatus();
}

absl::Status SessionManager::CheckNotInUse(absl::string_view name,
                                           absl::string_view what) const {
  std::vector<std::string> users;
  {
    absl::ReaderMutexLock lock(&mu_);
    for (const auto& [id, s] : sessions_) {
      if (s->cassette != nullptr && s->cassette->name() == name) {
        users.push_back(
            absl::StrCat(s->id, " (mode ", ModeWord(s->cassette->mode()), ")"));
      }
    }
  }
  if (users.empty()) return absl::OkStatus();
  std::sort(users.begin(), users.end());
  return absl::FailedPreconditionError(absl::StrCat(
      "cassette '", name, "' is in use by session ", absl::StrJoin(users, ", "),
      "; cannot ", what, " it until that session ends (`matgto stop",
      users.size() == 1 && absl::StartsWith(users[0], kDefaultSessionId)
          ? ""
          : " --session ID",
      "`)"));
}

absl::StatusOr<v1::SessionInfo> SessionManager::Use(
    absl::string_view name, v1::Mode mode, const v1::CassetteOptions& overrides,
    const SessionTarget& target) {
  absl::MutexLock control(&control_mu_);
  if (mode == v1::MODE_UNSPECIFIED) mode = options_.default_mode;
  if (!v1::Mode_IsValid(mode)) {
    return absl::InvalidArgumentError(absl::StrCat("unknown mode ", mode));
  }
  RETURN_IF_ERROR(cassette::ValidateCassetteName(name));
  RETURN_IF_ERROR(CheckEnumValues(overrides));
  if (target.new_session && !target.session.empty()) {
    return absl::InvalidArgumentError(
        "new_session opens a new session: leave `session` empty");
  }
  if (!target.new_session &&
      (target.lease.has_value() || !target.owner.empty())) {
    return absl::InvalidArgumentError(
        "lease and owner apply to a new session (new_session); an open "
        "session's lease is extended with RenewSession");
  }
  if (target.lease.has_value() &&
      (*target.lease < kMinLease || *target.lease > kMaxLease)) {
    return absl::InvalidArgumentError(
        absl::StrCat("lease must be between ", absl::FormatDuration(kMinLease),
                     " and ", absl::FormatDuration(kMaxLease), ", got ",
                     absl::FormatDuration(*target.lease)));
  }
  if (target.owner.size() > kMaxOwnerBytes) {
    return absl::InvalidArgumentError(
        absl::StrCat("owner is at most ", kMaxOwnerBytes, " bytes"));
  }
  OpenSession* session = nullptr;
  if (target.new_session) {
    absl::ReaderMutexLock lock(&mu_);
    if (sessions_.size() - 1 >= options_.max_sessions) {
      return absl::ResourceExhaustedError(absl::StrCat(
          "this server already has ", sessions_.size() - 1,
          " open sessions, its limit (--max-sessions ", options_.max_sessions,
          "); stop sessions that are done, or raise the limit"));
    }
  } else {
    ASSIGN_OR_RETURN(session, Find(target.session));
  }

  Notes log;
  // A recording of this very cassette in this session is saved first, so
  // that AUTO/REPLAY right after recording sees it.
  if (session != nullptr && session->cassette != nullptr &&
      session->cassette->name() == name && session->writes) {
    absl::Status refused;
    RETURN_IF_ERROR(
        EndLocked(*session, "replaced", /*close=*/false, log, &refused)
            .status());
    if (!refused.ok()) {
      Log(log);
      return refused;
    }
  }
  ASSIGN_OR_RETURN(bool exists, store_.Exists(name));
  v1::Mode effective = mode;
  if (mode == v1::AUTO) effective = exists ? v1::REPLAY : v1::RECORD;

  // Replayed from a cassette image (mapped: loading parses no body);
  // parsed whole as well only when the replay will add to it.
  std::shared_ptr<cassette::CassetteImage> image;
  std::optional<v1::Cassette> loaded;
  v1::CassetteOptions options = overrides;
  if (effective == v1::REPLAY) {
    if (!exists) {
      return absl::NotFoundError(
          absl::StrCat("cassette '", name, "' does not exist (looked for ",
                       store_.Describe(name), "); record it first"));
    }
    const absl::Time load_start = absl::Now();
    ASSIGN_OR_RETURN(image, store_.LoadImage(name));
    if (options_.observer != nullptr) {
      options_.observer->OnCassetteLoad(absl::Now() - load_start,
                                        image->byte_size());
    }
    // The name the session is opened with wins over the one stored inside
    // (a copied cassette is saved under its own name, never the original's).
    image->mutable_header().set_name(std::string(name));
    options = MergeOptions(image->header().options(), overrides);
  }
  const bool writes =
      effective == v1::RECORD ||
      (effective == v1::REPLAY && options.on_miss() == v1::MISS_RECORD);
  if (writes && image != nullptr) {
    ASSIGN_OR_RETURN(loaded, image->Materialize());
  }
  if (writes && !target.refuse_writes.empty()) {
    return absl::PermissionDeniedError(absl::StrCat(
        target.refuse_writes, " (cassette '", name,
        "' would be recorded into: ",
        effective == v1::RECORD ? "mode RECORD" : "miss policy MISS_RECORD",
        ")"));
  }
  RETURN_IF_ERROR(CheckConflicts(name, writes, session));
  // Rules are compiled before anything changes, so a bad pattern leaves the
  // current session in use.
  ASSIGN_OR_RETURN(match::MatchRules match_rules,
                   ToMatchRules(options.match_rules()));
  ASSIGN_OR_RETURN(cassette::RedactConfig redact,
                   ToRedactConfig(options.redact(), default_redaction_));

  // The journal is created before the current cassette ends, so a journal
  // that cannot be created leaves the session that was in use running.
  std::unique_ptr<cassette::Journal> journal;
  if (writes) {
    ASSIGN_OR_RETURN(journal, store_.StartJournal(name));
  }
  // On an error below, the new journal goes (the current cassette stays).
  auto drop_journal = [&journal] {
    if (journal != nullptr) (void)journal->Remove();
  };

  std::unique_ptr<OpenSession> fresh;
  if (target.new_session) {
    fresh = std::make_unique<OpenSession>();
    fresh->id = NewSessionId();
    fresh->owner = target.owner;
    fresh->opened_at = clock_.Now();
    fresh->lease = target.lease;
    if (target.lease.has_value()) {
      fresh->lease_expires_at = fresh->opened_at + *target.lease;
    }
    if (options_.listeners != nullptr) {
      fresh->route = next_route_++;
      absl::StatusOr<std::unique_ptr<core::SessionListener>> listener =
          options_.listeners->Open(fresh->route);
      if (!listener.ok()) {
        drop_journal();
        return listener.status();
      }
      fresh->listener = *std::move(listener);
      fresh->proxy_address = fresh->listener->address();
    }
    session = fresh.get();
  } else if (session->cassette != nullptr) {
    // End the current cassette only once the new one is certain to start.
    absl::Status refused;
    absl::Status ended =
        EndLocked(*session, "replaced", /*close=*/false, log, &refused)
            .status();
    if (ended.ok()) ended = refused;
    if (!ended.ok()) {
      drop_journal();
      Log(log);
      return ended;
    }
  }
  auto cassette_session = std::make_shared<CassetteSession>(SessionSetup{
      .id = next_cassette_id_++,
      .session_id = session->id,
      .name = std::string(name),
      .requested_mode = mode,
      .mode = effective,
      .options = std::move(options),
      .image = std::move(image),
      .loaded = std::move(loaded),
      .redactor = std::make_shared<const cassette::Redactor>(std::move(redact)),
      .matcher = match::RequestMatcher(std::move(match_rules)),
      .clock = &clock_,
      .journal = std::move(journal),
      .observer = options_.observer});
  v1::SessionInfo info;
  {
    absl::MutexLock lock(&mu_);
    session->cassette = cassette_session;
    session->writes = writes;
    by_ticket_[cassette_session->id()] = cassette_session;
    if (fresh != nullptr) {
      if (fresh->route != 0) by_route_[fresh->route] = fresh.get();
      sessions_.emplace(fresh->id, std::move(fresh));
    }
  }
  info = Describe(*session, clock_.Now());
  log.push_back(Note(
      v1::SessionEvent::KIND_STARTED, info.id(), name, effective,
      absl::StrCat(
          "session ", info.id(), " uses cassette '", name, "' (",
          ModeWord(effective), ")",
          info.proxy_address().empty() || IsDefault(info.id())
              ? ""
              : absl::StrCat(", proxy ", info.proxy_address()),
          info.owner().empty() ? "" : absl::StrCat(", owner: ", info.owner()),
          session->lease.has_value()
              ? absl::StrCat(", lease ", absl::FormatDuration(*session->lease))
              : "")));
  Log(log);
  return info;
}

absl::StatusOr<v1::SetFaultsResponse> SessionManager::SetFaults(
    absl::string_view session, const std::vector<v1::Fault>& faults,
    uint64_t seed) {
  std::shared_ptr<FaultSet> set;
  std::string id;
  {
    absl::MutexLock control(&control_mu_);
    ASSIGN_OR_RETURN(OpenSession * s, Find(session));
    set = s->faults;
    id = s->id;
  }
  ASSIGN_OR_RETURN(std::vector<v1::Fault> all, set->Add(faults, seed));
  v1::SetFaultsResponse out;
  for (v1::Fault& f : all) *out.add_faults() = std::move(f);
  out.set_seed(set->seed());
  Notes log;
  // The rules just added are the last ones.
  for (int i = out.faults_size() - static_cast<int>(faults.size());
       i < out.faults_size(); ++i) {
    log.push_back(Note(v1::SessionEvent::KIND_NOTE, id, "",
                       v1::MODE_UNSPECIFIED,
                       absl::StrCat("session ", id, ": fault rule ",
                                    DescribeFault(out.faults(i)), " (seed ",
                                    out.seed(), ")")));
  }
  Log(log);
  return out;
}

absl::StatusOr<std::vector<v1::Fault>> SessionManager::ClearFaults(
    absl::string_view session, const std::vector<std::string>& ids) {
  std::shared_ptr<FaultSet> set;
  {
    absl::MutexLock control(&control_mu_);
    ASSIGN_OR_RETURN(OpenSession * s, Find(session));
    set = s->faults;
  }
  return set->Clear(ids);
}

}  // namespace matgto::replay
