#include "server/replay/session.h"

#include <utility>

#include "absl/strings/str_cat.h"
#include "server/replay/passthrough_mode.h"
#include "server/replay/record_mode.h"
#include "server/replay/replay_mode.h"

namespace matgto::replay {
namespace {

// The one place the session's mode is looked at.
std::unique_ptr<ModeHandler> NewModeHandler(SessionSetup& setup,
                                            const v1::CassetteOptions& options,
                                            const core::Clock& clock) {
  const bool decode_bodies = options.body_storage() == v1::DECODED;
  // One set of learned secrets per session: what recording scrubs and what
  // matching scrubs from live requests agree.
  auto secrets = std::make_shared<cassette::KnownSecrets>();
  switch (setup.mode) {
    case v1::RECORD: {
      v1::Cassette empty;
      empty.set_name(setup.name);
      *empty.mutable_options() = options;
      return std::make_unique<RecordMode>(
          setup.id, Recorder(empty, decode_bodies, setup.redactor, clock,
                             std::move(setup.journal), std::move(secrets)));
    }
    case v1::PASSTHROUGH:
      return std::make_unique<PassthroughMode>(setup.id);
    case v1::REPLAY:
    default:
      // An unresolved mode replays nothing rather than reach the network.
      break;
  }
  const v1::Cassette none;
  const v1::Cassette& loaded = setup.loaded.has_value() ? *setup.loaded : none;
  const ReplayPolicy policy = ReplayPolicy::FromOptions(options);
  std::optional<Recorder> recorder;
  if (policy.on_miss == OnMiss::kRecord) {
    // New episodes are appended to what was loaded. The cassette keeps its
    // own options: Replay's overrides apply to this session only.
    recorder.emplace(loaded, decode_bodies, setup.redactor, clock,
                     std::move(setup.journal), secrets);
  }
  std::shared_ptr<const cassette::CassetteImage> image =
      setup.image != nullptr ? setup.image
                             : cassette::CassetteImage::FromCassette(loaded);
  return std::make_unique<ReplayMode>(
      std::move(image), ReplayMode::Setup{.ticket = setup.id,
                                          .cassette = setup.name,
                                          .policy = policy,
                                          .redactor = setup.redactor,
                                          .secrets = std::move(secrets),
                                          .matcher = std::move(setup.matcher),
                                          .recorder = std::move(recorder)});
}

// The handler's recorder, read once at construction (before any other
// thread can see the handler).
const Recorder* RecorderOf(ModeHandler& handler) { return handler.recorder(); }

}  // namespace

CassetteSession::CassetteSession(SessionSetup setup)
    : id_(setup.id),
      session_id_(setup.session_id),
      name_(setup.name),
      requested_mode_(setup.requested_mode),
      options_(std::move(setup.options)),
      clock_(*setup.clock),
      observer_(setup.observer),
      handler_(NewModeHandler(setup, options_, clock_)),
      mode_(handler_->mode()),
      drafter_(RecorderOf(*handler_)) {}

// Records one relayed WebSocket session into its cassette session.
class RecordingWsSink final : public core::WsSessionSink {
 public:
  RecordingWsSink(std::shared_ptr<CassetteSession> session,
                  core::HttpRequest upgrade)
      : session_(std::move(session)), upgrade_(std::move(upgrade)) {}

  void OnUpgraded(const core::HttpResponse& response) override {
    index_ = session_->WsBegin(upgrade_, response, session_->clock_.Now());
  }
  void OnMessage(const core::WsMessage& message) override {
    if (index_.has_value()) session_->WsMessage(*index_, message);
  }
  void OnClose(const core::WsClose& close) override {
    if (index_.has_value()) session_->WsClose(*index_, close);
  }

 private:
  std::shared_ptr<CassetteSession> session_;
  core::HttpRequest upgrade_;
  std::optional<uint64_t> index_;
};

std::shared_ptr<core::WsSessionSink> CassetteSession::RecordWebSocket(
    const core::HttpRequest& upgrade) {
  return std::make_shared<RecordingWsSink>(shared_from_this(), upgrade);
}

ScriptPlayback::MismatchReporter CassetteSession::ReportWsMismatch(
    std::string url, uint64_t interaction) {
  return [self = shared_from_this(), url = std::move(url), interaction](
             size_t index, const core::WsMessage* expected,
             const core::WsMessage& got) {
    self->AddMismatch(
        WsMismatchReport(url, interaction, index, expected, got),
        [&](const v1::Miss& shown) {
          return absl::StrCat(
              "matgto: WebSocket client message #", index, " to ", shown.url(),
              " differs from the recording (interaction #", interaction,
              ") in cassette '", self->name_,
              "'; the session was closed with 1008. Recorded: ",
              shown.closest(0).differences(0).recorded(),
              "; live: ", shown.closest(0).differences(0).live(), ".");
        });
  };
}

std::function<void(const std::string& live)>
CassetteSession::ReportStreamMismatch(
    const core::HttpRequest& live, uint64_t interaction,
    std::shared_ptr<const std::string> recorded) {
  core::HttpRequest head;
  head.method = live.method;
  head.url = live.url;
  return [self = shared_from_this(), head = std::move(head), interaction,
          recorded = std::move(recorded)](const std::string& body) {
    self->AddMismatch(
        StreamMismatchReport(head, interaction, *recorded, body),
        [&](const v1::Miss& shown) {
          return absl::StrCat(
              "matgto: the request stream ", shown.method(), " ", shown.url(),
              " parted from its recording (interaction #", interaction,
              ") in cassette '", self->name_, "' at ",
              shown.closest(0).differences(0).field(),
              "; the stream was ended with UNAVAILABLE. Recorded: ",
              shown.closest(0).differences(0).recorded(),
              "; live: ", shown.closest(0).differences(0).live(), ".");
        });
  };
}

void CassetteSession::AddMismatch(
    v1::Miss miss, absl::FunctionRef<std::string(const v1::Miss&)> explain) {
  if (observer_ != nullptr) {
    v1::Miss shown = observe::SanitizeMiss(miss);
    std::string explanation = explain(shown);
    observer_->OnMiss(session_id_, name_, std::move(shown),
                      std::move(explanation));
  }
  absl::MutexLock lock(&mu_);
  counters_.misses.Add(std::move(miss));
}

std::optional<uint64_t> CassetteSession::WsBegin(
    const core::HttpRequest& upgrade, const core::HttpResponse& response,
    absl::Time opened) {
  absl::MutexLock lock(&mu_);
  Recorder* recorder = handler_->recorder();
  if (recorder == nullptr || ended_ || frozen_) return std::nullopt;
  return recorder->BeginWebSocket(upgrade, response, opened);
}

void CassetteSession::WsMessage(uint64_t index,
                                const core::WsMessage& message) {
  absl::MutexLock lock(&mu_);
  Recorder* recorder = handler_->recorder();
  if (recorder == nullptr || ended_) return;
  if (frozen_) {
    held_.push_back(
        [recorder, index, message] { recorder->AddWsMessage(index, message); });
    return;
  }
  recorder->AddWsMessage(index, message);
}

void CassetteSession::WsClose(uint64_t index, const core::WsClose& close) {
  absl::MutexLock lock(&mu_);
  Recorder* recorder = handler_->recorder();
  if (recorder == nullptr || ended_) return;
  if (frozen_) {
    held_.push_back(
        [recorder, index, close] { recorder->SetWsClose(index, close); });
    return;
  }
  recorder->SetWsClose(index, close);
}

bool CassetteSession::records_forwards() const {
  return mode_ == v1::RECORD ||
         (mode_ == v1::REPLAY && options_.on_miss() == v1::MISS_RECORD);
}

core::Decision CassetteSession::OnRequest(const core::HttpRequest& request,
                                          Note* note) {
  absl::MutexLock lock(&mu_);
  const uint64_t misses = counters_.misses.count();
  core::Decision decision = handler_->OnRequest(request, counters_);
  if (note != nullptr && counters_.misses.count() != misses) {
    note->miss = counters_.misses.last();
    note->recordings = handler_->replayable();
  }
  return decision;
}

std::optional<core::Decision> CassetteSession::OnPartialRequest(
    const core::HttpRequest& partial, Note* note) {
  absl::MutexLock lock(&mu_);
  const uint64_t misses = counters_.misses.count();
  std::optional<core::Decision> decision =
      handler_->OnPartialRequest(partial, *this, counters_);
  if (note != nullptr && counters_.misses.count() != misses) {
    note->miss = counters_.misses.last();
    note->recordings = handler_->replayable();
  }
  return decision;
}

void CassetteSession::OnForwarded(const core::HttpRequest& request,
                                  const core::HttpResponse& response,
                                  const core::ExchangeTiming& timing) {
  // Redacted and converted before the lock: recording from several I/O
  // threads, each holds it only to number and append its exchange.
  std::optional<Recorder::Draft> draft;
  if (drafter_ != nullptr)
    draft = drafter_->DraftHttp(request, response, timing);
  absl::MutexLock lock(&mu_);
  if (ended_) return;
  if (frozen_) {
    // Run by Thaw() under mu_ (drafted again then: the draft lives only
    // until this thread drafts another one).
    held_.push_back(
        [this, request, response, timing]() ABSL_NO_THREAD_SAFETY_ANALYSIS {
          handler_->OnForwarded(request, response, timing, counters_, nullptr);
        });
    return;
  }
  handler_->OnForwarded(request, response, timing, counters_,
                        draft.has_value() ? &*draft : nullptr);
}

void CassetteSession::OnForwardFailed() {
  absl::MutexLock lock(&mu_);
  ++counters_.failed;
}

void CassetteSession::OnNotStored(const core::HttpRequest& request,
                                  absl::string_view why) {
  absl::MutexLock lock(&mu_);
  ++counters_.failed;
  if (Recorder* recorder = handler_->recorder()) {
    recorder->NotStored(request, why);
  }
}

core::WsDecision CassetteSession::OnWebSocket(const core::HttpRequest& upgrade,
                                              Note* note) {
  absl::MutexLock lock(&mu_);
  const uint64_t misses = counters_.misses.count();
  core::WsDecision decision = handler_->OnWebSocket(upgrade, *this, counters_);
  if (note != nullptr && counters_.misses.count() != misses) {
    note->miss = counters_.misses.last();
    note->recordings = handler_->replayable();
  }
  return decision;
}

absl::StatusOr<std::optional<cassette::Recording>> CassetteSession::Freeze() {
  absl::MutexLock lock(&mu_);
  frozen_ = true;
  absl::StatusOr<std::optional<cassette::Recording>> recording =
      handler_->ToSave();
  if (recording.ok() && recording->has_value()) {
    (*recording)->head().set_name(name_);
  }
  return recording;
}

void CassetteSession::Thaw() {
  absl::MutexLock lock(&mu_);
  if (!frozen_ || ended_) return;
  frozen_ = false;
  std::vector<std::function<void()>> held;
  held.swap(held_);
  for (const std::function<void()>& event : held) event();
}

void CassetteSession::End() {
  cassette::Journal* journal = nullptr;
  {
    absl::MutexLock lock(&mu_);
    ended_ = true;
    held_.clear();
    if (Recorder* recorder = handler_->recorder(); recorder != nullptr) {
      journal = recorder->journal();
    }
  }
  // The cassette is saved: the journal has served its purpose.
  if (journal != nullptr) (void)journal->Remove();
}

v1::SessionInfo CassetteSession::Info() const {
  v1::SessionInfo info;
  info.set_cassette(name_);
  info.set_mode(mode_);
  info.set_requested_mode(requested_mode_);
  *info.mutable_options() = options_;
  absl::MutexLock lock(&mu_);
  info.set_recorded(handler_->recorded());
  info.set_replayed(counters_.replayed);
  info.set_missed(counters_.misses.count());
  info.set_passed_through(counters_.passed_through);
  info.set_interactions(handler_->replayable());
  for (const v1::Miss& m : counters_.misses.kept()) *info.add_misses() = m;
  return info;
}

absl::StatusOr<std::optional<v1::Cassette>> CassetteSession::Recording() const {
  absl::MutexLock lock(&mu_);
  absl::StatusOr<std::optional<v1::Cassette>> recording = handler_->Recording();
  // Saved under the name the session was opened with, whatever was loaded.
  if (recording.ok() && recording->has_value()) (*recording)->set_name(name_);
  return recording;
}

std::vector<std::string> CassetteSession::Warnings() const {
  absl::MutexLock lock(&mu_);
  Recorder* recorder = handler_->recorder();
  return recorder != nullptr ? recorder->Warnings()
                             : std::vector<std::string>{};
}

std::vector<uint64_t> CassetteSession::Unused() const {
  absl::MutexLock lock(&mu_);
  return handler_->Unused();
}

}  // namespace matgto::replay
