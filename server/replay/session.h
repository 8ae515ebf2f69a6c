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

// Thread-safety: all methods are safe to call concurrently. `mu_` guards the
// player (use counts), the recorder and the counters; it is held for
// in-memory work only.
class CassetteSession : public std::enable_shared_from_this<CassetteSession> {
 public:
  // mode must be RECORD, REPLAY or PASSTHROUGH (AUTO is resolved before).
  // For REPLAY, `loaded` is the cassette read from the store.
  CassetteSession(uint64_t id, std::string name, v1::Mode requested_mode,
                  v1::Mode mode, v1::CassetteOptions options,
                  std::optional<v1::Cassette> loaded,
                  const cassette::Redactor& redactor, const core::Clock& clock,
                  std::unique_ptr<cassette::Journal> journal = nullptr);

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
  // The recording to save; nullopt unless mode is RECORD.
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
      const core::HttpRequest& request, Player::Miss miss, size_t recorded_count,
      const std::function<std::pair<uint64_t, const core::HttpRequest*>(size_t)>&
          recorded) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void AddMiss(v1::Miss miss) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  const uint64_t id_;
  const std::string name_;
  const v1::Mode requested_mode_;
  const v1::Mode mode_;
  const v1::CassetteOptions options_;

  mutable absl::Mutex mu_;
  std::optional<Player> player_ ABSL_GUARDED_BY(mu_);
  std::optional<Recorder> recorder_ ABSL_GUARDED_BY(mu_);
  std::optional<WsPlayer> ws_player_ ABSL_GUARDED_BY(mu_);
  const core::Clock& clock_;
  bool ended_ ABSL_GUARDED_BY(mu_) = false;
  uint64_t replayed_ ABSL_GUARDED_BY(mu_) = 0;
  uint64_t missed_ ABSL_GUARDED_BY(mu_) = 0;
  uint64_t passed_through_ ABSL_GUARDED_BY(mu_) = 0;
  uint64_t failed_ ABSL_GUARDED_BY(mu_) = 0;
  std::vector<v1::Miss> misses_ ABSL_GUARDED_BY(mu_);
};

}  // namespace matgto::replay
