// One cassette in use, in one mode: the decisions for every request that
// reaches it, and its counters and misses.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>

#include "absl/synchronization/mutex.h"
#include "matgto/v1/cassette.pb.h"
#include "matgto/v1/control.pb.h"
#include "server/cassette/redact.h"
#include "server/core/clock.h"
#include "server/core/exchange_handler.h"
#include "server/replay/player.h"
#include "server/replay/recorder.h"
#include "server/replay/ws_player.h"

namespace matgto::replay {

inline constexpr int kMaxMissesKept = 100;
// Status of a replay miss: outside the range retry policies usually watch.
inline constexpr int kMissStatus = 599;

// Everything a session starts from.
struct SessionSetup {
  uint64_t id = 0;
  std::string name;
  v1::Mode requested_mode = v1::AUTO;
  // RECORD, REPLAY or PASSTHROUGH (AUTO is resolved before).
  v1::Mode mode = v1::RECORD;
  // The effective options (stored ones merged with the caller's).
  v1::CassetteOptions options;
  // For REPLAY: the cassette read from the store.
  std::optional<v1::Cassette> loaded;
  std::shared_ptr<const cassette::Redactor> redactor;
  match::RequestMatcher matcher;
  const core::Clock* clock = nullptr;
  // For RECORD, and REPLAY with on_miss RECORD.
  std::unique_ptr<cassette::Journal> journal;
};

// Thread-safety: all methods are safe to call concurrently. `mu_` guards the
// player (use counts), the recorder and the counters; it is held for
// in-memory work only.
class CassetteSession : public std::enable_shared_from_this<CassetteSession> {
 public:
  explicit CassetteSession(SessionSetup setup);

  uint64_t id() const { return id_; }
  const std::string& name() const { return name_; }
  v1::Mode mode() const { return mode_; }

  core::Decision OnRequest(const core::HttpRequest& request);
  void OnForwarded(const core::HttpRequest& request,
                   const core::HttpResponse& response,
                   const core::ExchangeTiming& timing);
  void OnForwardFailed();
  core::WsDecision OnWebSocket(const core::HttpRequest& upgrade);

  // Called once the session has been saved and detached: later events (a
  // WebSocket still open, a forward still in flight) are not recorded, and
  // the recording's journal is removed.
  void End();

  v1::SessionInfo Info() const;
  // The recording to save: in RECORD mode, or in REPLAY when the miss
  // policy RECORD appended exchanges; nullopt otherwise.
  std::optional<v1::Cassette> Recording() const;
  // Interactions replay never used (REPLAY only).
  std::vector<uint64_t> Unused() const;

 private:
  friend class RecordingWsSink;
  // Recording of a relayed WebSocket session (see RecordingWsSink).
  std::optional<uint64_t> WsBegin(const core::HttpRequest& upgrade,
                                  const core::HttpResponse& response,
                                  absl::Time opened);
  void WsMessage(uint64_t index, const core::WsMessage& message);
  void WsClose(uint64_t index, const core::WsClose& close);
  void ReportWsMismatch(const std::string& url, uint64_t interaction,
                        size_t message_index, const core::WsMessage* expected,
                        const core::WsMessage& got);

  // `recorded(i)` is the request of candidate i.
  core::Reply MissReply(
      const core::HttpRequest& request, Player::Miss miss,
      size_t recorded_count,
      const std::function<std::pair<uint64_t, const core::HttpRequest*>(
          size_t)>& recorded) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void AddMiss(v1::Miss miss) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // The live request as matching sees it: redacted like the recordings
  // when redaction can change what is compared.
  const core::HttpRequest& ForMatching(const core::HttpRequest& request,
                                       core::HttpRequest& scratch) const;

  const uint64_t id_;
  const std::string name_;
  const v1::Mode requested_mode_;
  const v1::Mode mode_;
  const v1::CassetteOptions options_;
  const std::shared_ptr<const cassette::Redactor> redactor_;
  const bool redact_before_matching_;

  mutable absl::Mutex mu_;
  std::optional<Player> player_ ABSL_GUARDED_BY(mu_);
  std::optional<Recorder> recorder_ ABSL_GUARDED_BY(mu_);
  std::optional<WsPlayer> ws_player_ ABSL_GUARDED_BY(mu_);
  const core::Clock& clock_;
  bool ended_ ABSL_GUARDED_BY(mu_) = false;
  // Exchanges the miss policy RECORD added to a replayed cassette.
  uint64_t appended_ ABSL_GUARDED_BY(mu_) = 0;
  uint64_t replayed_ ABSL_GUARDED_BY(mu_) = 0;
  uint64_t missed_ ABSL_GUARDED_BY(mu_) = 0;
  uint64_t passed_through_ ABSL_GUARDED_BY(mu_) = 0;
  uint64_t failed_ ABSL_GUARDED_BY(mu_) = 0;
  std::vector<v1::Miss> misses_ ABSL_GUARDED_BY(mu_);
};

}  // namespace matgto::replay
