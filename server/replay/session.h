// One cassette in use, in one mode: the owner of the mode handler chosen
// when the session starts (mode.h: RecordMode, ReplayMode, PassthroughMode)
// and of the session's counters and misses, behind one lock.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/functional/function_ref.h"
#include "absl/synchronization/mutex.h"
#include "matgto/v1/cassette.pb.h"
#include "matgto/v1/control.pb.h"
#include "server/cassette/image.h"
#include "server/cassette/journal.h"
#include "server/cassette/redact.h"
#include "server/core/clock.h"
#include "server/core/exchange_handler.h"
#include "server/match/matcher.h"
#include "server/observe/observer.h"
#include "server/replay/miss.h"
#include "server/replay/mode.h"

namespace matgto::replay {

// Everything a session starts from.
struct SessionSetup {
  uint64_t id = 0;
  // The id of the session (SessionManager's) this cassette is used in.
  std::string session_id;
  std::string name;
  v1::Mode requested_mode = v1::AUTO;
  // RECORD, REPLAY or PASSTHROUGH (AUTO is resolved before; anything else
  // replays an empty cassette, so every request is a miss).
  v1::Mode mode = v1::RECORD;
  // The effective options (stored ones merged with the caller's).
  v1::CassetteOptions options;
  // For REPLAY: the cassette read from the store, as an image (replayed
  // from) and parsed whole when it will be changed (on_miss RECORD); with
  // no image the parsed one is replayed, with neither an empty one.
  std::shared_ptr<const cassette::CassetteImage> image;
  std::optional<v1::Cassette> loaded;
  std::shared_ptr<const cassette::Redactor> redactor;
  match::RequestMatcher matcher;
  const core::Clock* clock = nullptr;
  // For RECORD, and REPLAY with on_miss RECORD.
  std::unique_ptr<cassette::Journal> journal;
  // Told of WebSocket message mismatches (the other misses are reported by
  // the session manager); null: none.
  observe::Observer* observer = nullptr;
};

// Thread-safety: all methods are safe to call concurrently. `mu_` guards
// the mode handler (its recorder and players), `ended_` and the counters;
// it is held for in-memory work only (there is no I/O in replay/), and the
// journal is removed outside it.
class CassetteSession : public std::enable_shared_from_this<CassetteSession>,
                        private ModeHost {
 public:
  explicit CassetteSession(SessionSetup setup);

  uint64_t id() const { return id_; }
  const std::string& session_id() const { return session_id_; }
  const std::string& name() const { return name_; }
  v1::Mode mode() const { return mode_; }
  // Whether a forwarded exchange is recorded (RECORD; REPLAY with on_miss
  // RECORD) rather than only passed through.
  bool records_forwards() const;

  // What a request led to besides the decision, for the event stream.
  struct Note {
    // Set when the request missed (a copy of the report kept).
    std::optional<v1::Miss> miss;
    // Recordings replay answers from.
    uint64_t recordings = 0;
  };

  core::Decision OnRequest(const core::HttpRequest& request,
                           Note* note = nullptr);
  // A request still arriving (ExchangeHandler::OnPartialRequest).
  std::optional<core::Decision> OnPartialRequest(
      const core::HttpRequest& partial, Note* note = nullptr);
  void OnForwarded(const core::HttpRequest& request,
                   const core::HttpResponse& response,
                   const core::ExchangeTiming& timing);
  void OnForwardFailed();
  // A forward whose response the client got but the recording could not
  // keep: counted as failed, and the summary warns with `why`.
  void OnNotStored(const core::HttpRequest& request, absl::string_view why);
  core::WsDecision OnWebSocket(const core::HttpRequest& upgrade,
                               Note* note = nullptr);

  // Stops recording and returns the recording to save (as Recording()),
  // atomically: every exchange counted so far is in it, and none is counted
  // after it. The session goes on answering; exchanges and WebSocket events
  // of sessions already open that complete meanwhile are held, not recorded
  // (a WebSocket session opened meanwhile is not recorded at all). Then
  // either End() (saved: what was held is dropped, uncounted) or Thaw() (the
  // save failed: what was held is recorded and recording goes on).
  absl::StatusOr<std::optional<cassette::Recording>> Freeze();
  void Thaw();

  // Called once the session has been saved and detached: later events (a
  // WebSocket still open, a forward still in flight) are not recorded, and
  // the recording's journal is removed.
  void End();

  v1::SessionInfo Info() const;
  // The recording to save: in RECORD mode, or in REPLAY when the miss
  // policy RECORD appended exchanges; nullopt otherwise.
  absl::StatusOr<std::optional<v1::Cassette>> Recording() const;
  // Interactions replay never used (REPLAY only).
  std::vector<uint64_t> Unused() const;
  // What the recording's summary should warn about (Recorder::Warnings).
  std::vector<std::string> Warnings() const;

 private:
  friend class RecordingWsSink;

  // ModeHost. Called under `mu_` (from the handler); what they return takes
  // `mu_` itself when it is called later.
  std::shared_ptr<core::WsSessionSink> RecordWebSocket(
      const core::HttpRequest& upgrade) override;
  ScriptPlayback::MismatchReporter ReportWsMismatch(
      std::string url, uint64_t interaction) override;
  std::function<void(const std::string& live)> ReportStreamMismatch(
      const core::HttpRequest& live, uint64_t interaction,
      std::shared_ptr<const std::string> recorded) override;

  // A live message or request that parted from the recording replayed for
  // it (the reporters above): the observer hears of it, with
  // `explain(shown)` as its sentence, and the session counts the miss.
  // Takes `mu_`.
  void AddMismatch(v1::Miss miss,
                   absl::FunctionRef<std::string(const v1::Miss&)> explain);

  // Recording of a relayed WebSocket session (see RecordingWsSink).
  std::optional<uint64_t> WsBegin(const core::HttpRequest& upgrade,
                                  const core::HttpResponse& response,
                                  absl::Time opened);
  void WsMessage(uint64_t index, const core::WsMessage& message);
  void WsClose(uint64_t index, const core::WsClose& close);

  const uint64_t id_;
  const std::string session_id_;
  const std::string name_;
  const v1::Mode requested_mode_;
  const v1::CassetteOptions options_;
  const core::Clock& clock_;
  observe::Observer* const observer_;

  mutable absl::Mutex mu_;
  // Chosen once in the constructor; the pointer never changes, what it
  // points to is guarded.
  const std::unique_ptr<ModeHandler> handler_ ABSL_PT_GUARDED_BY(mu_);
  // handler_->mode(), kept to be read without the lock.
  const v1::Mode mode_;
  // handler_->recorder() (null when the mode does not record), for
  // drafting exchanges without the lock (Recorder::DraftHttp is
  // thread-safe); everything else of it is used under mu_.
  const Recorder* const drafter_;
  bool ended_ ABSL_GUARDED_BY(mu_) = false;
  // Between Freeze() and Thaw()/End(): events to record on Thaw(), in order.
  bool frozen_ ABSL_GUARDED_BY(mu_) = false;
  std::vector<std::function<void()>> held_ ABSL_GUARDED_BY(mu_);
  SessionCounters counters_ ABSL_GUARDED_BY(mu_);
};

}  // namespace matgto::replay
