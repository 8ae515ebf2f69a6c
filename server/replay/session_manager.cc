#include "server/replay/session_manager.h"

#include "absl/strings/str_cat.h"
#include "server/core/status_macros.h"
#include "server/replay/rules.h"

namespace matgto::replay {

SessionManager::SessionManager(cassette::CassetteStore& store,
                               cassette::RedactConfig redact,
                               const core::Clock& clock, v1::Mode default_mode)
    : store_(store),
      default_redaction_(std::move(redact)),
      clock_(clock),
      default_mode_(default_mode == v1::MODE_UNSPECIFIED ? v1::AUTO
                                                         : default_mode),
      no_cassette_response_(
          std::make_shared<const core::HttpResponse>(core::MakeErrorResponse(
              503, "no-cassette",
              "matgto: no cassette is in use, so this request was neither "
              "forwarded nor answered. Start one with `matgto record NAME`, "
              "`matgto replay NAME` or `matgto use NAME`, or run the server "
              "with --mode passthrough to forward requests while idle.\n"))) {}

std::shared_ptr<CassetteSession> SessionManager::Active() const {
  absl::MutexLock lock(&mu_);
  return active_;
}

absl::StatusOr<v1::SessionInfo> SessionManager::Use(
    absl::string_view name, v1::Mode mode,
    const v1::CassetteOptions& overrides) {
  absl::MutexLock control(&control_mu_);
  if (mode == v1::MODE_UNSPECIFIED) mode = default_mode_;
  if (!v1::Mode_IsValid(mode)) {
    return absl::InvalidArgumentError(absl::StrCat("unknown mode ", mode));
  }
  RETURN_IF_ERROR(store_.Exists(name).status());
  // A recording of this very cassette is saved first, so that AUTO/REPLAY
  // right after recording sees it.
  if (std::shared_ptr<CassetteSession> current = Active();
      current != nullptr && current->name() == name &&
      current->mode() == v1::RECORD) {
    RETURN_IF_ERROR(StopLocked().status());
  }
  ASSIGN_OR_RETURN(bool exists, store_.Exists(name));
  v1::Mode effective = mode;
  if (mode == v1::AUTO) effective = exists ? v1::REPLAY : v1::RECORD;

  std::optional<v1::Cassette> loaded;
  v1::CassetteOptions options = overrides;
  if (effective == v1::REPLAY) {
    if (!exists) {
      return absl::NotFoundError(
          absl::StrCat("cassette '", name, "' does not exist (looked for ",
                       store_.Describe(name), "); record it first"));
    }
    ASSIGN_OR_RETURN(loaded, store_.Load(name));
    options = MergeOptions(loaded->options(), overrides);
  }
  // Rules are compiled before anything changes, so a bad pattern leaves the
  // current session in use.
  ASSIGN_OR_RETURN(match::MatchRules match_rules,
                   ToMatchRules(options.match_rules()));
  ASSIGN_OR_RETURN(cassette::RedactConfig redact,
                   ToRedactConfig(options.redact(), default_redaction_));
  // End the current session only once the new one is certain to start.
  {
    bool has_active = Active() != nullptr;
    if (has_active) RETURN_IF_ERROR(StopLocked().status());
  }
  std::unique_ptr<cassette::Journal> journal;
  if (effective == v1::RECORD ||
      (effective == v1::REPLAY && options.on_miss() == v1::MISS_RECORD)) {
    ASSIGN_OR_RETURN(journal, store_.StartJournal(name));
  }
  auto session = std::make_shared<CassetteSession>(SessionSetup{
      .id = next_id_++,
      .name = std::string(name),
      .requested_mode = mode,
      .mode = effective,
      .options = std::move(options),
      .loaded = std::move(loaded),
      .redactor = std::make_shared<const cassette::Redactor>(std::move(redact)),
      .matcher = match::RequestMatcher(std::move(match_rules)),
      .clock = &clock_,
      .journal = std::move(journal)});
  v1::SessionInfo info = session->Info();
  absl::MutexLock lock(&mu_);
  active_ = std::move(session);
  return info;
}

absl::StatusOr<v1::SessionSummary> SessionManager::Stop() {
  absl::MutexLock control(&control_mu_);
  return StopLocked();
}

absl::StatusOr<v1::SessionSummary> SessionManager::StopLocked() {
  std::shared_ptr<CassetteSession> session = Active();
  if (session == nullptr) {
    return absl::FailedPreconditionError(
        "no cassette is in use; start one with StartRecording, Replay or "
        "UseCassette");
  }
  v1::SessionSummary summary;
  if (std::optional<v1::Cassette> recording = session->Recording()) {
    ASSIGN_OR_RETURN(std::string path, store_.Save(*recording));
    summary.set_saved_path(std::move(path));
  }
  // Detach only after a successful save so a failed save loses nothing.
  {
    absl::MutexLock lock(&mu_);
    if (active_ == session) active_.reset();
  }
  session->End();
  *summary.mutable_session() = session->Info();
  for (uint64_t i : session->Unused()) summary.add_unused_interactions(i);
  return summary;
}

std::optional<v1::SessionInfo> SessionManager::Info() const {
  std::shared_ptr<CassetteSession> session = Active();
  if (session == nullptr) return std::nullopt;
  return session->Info();
}

core::Decision SessionManager::OnRequest(const core::HttpRequest& request) {
  std::shared_ptr<CassetteSession> session = Active();
  if (session != nullptr) return session->OnRequest(request);
  if (default_mode_ == v1::PASSTHROUGH) return core::Forward{0};
  return core::Reply{no_cassette_response_, "no-cassette"};
}

void SessionManager::OnForwarded(const core::Forward& ticket,
                                 const core::HttpRequest& request,
                                 const core::HttpResponse& response,
                                 const core::ExchangeTiming& timing) {
  std::shared_ptr<CassetteSession> session = Active();
  // An exchange whose session has ended is not recorded into another one.
  if (session != nullptr && session->id() == ticket.ticket) {
    session->OnForwarded(request, response, timing);
  }
}

core::WsDecision SessionManager::OnWebSocket(const core::HttpRequest& upgrade) {
  std::shared_ptr<CassetteSession> session = Active();
  if (session != nullptr) return session->OnWebSocket(upgrade);
  if (default_mode_ == v1::PASSTHROUGH) return core::WsRelay{0, nullptr};
  return core::Reply{no_cassette_response_, "no-cassette"};
}

void SessionManager::OnForwardFailed(const core::Forward& ticket,
                                     const core::HttpRequest& request,
                                     const std::string& reason) {
  std::shared_ptr<CassetteSession> session = Active();
  if (session != nullptr && session->id() == ticket.ticket) {
    session->OnForwardFailed();
  }
}

}  // namespace matgto::replay
