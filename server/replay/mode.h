// A session's mode as a type. CassetteSession owns one ModeHandler, chosen
// once when the session starts (RecordMode, ReplayMode, PassthroughMode),
// and keeps the lock, the counters and the session's lifetime; the handler
// keeps what its mode needs (a recorder, the players) and decides what a
// request, a forwarded exchange and a WebSocket upgrade lead to. No I/O.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "matgto/v1/cassette.pb.h"
#include "matgto/v1/control.pb.h"
#include "server/cassette/recording.h"
#include "server/core/exchange_handler.h"
#include "server/core/http.h"
#include "server/core/websocket.h"
#include "server/replay/miss.h"
#include "server/replay/recorder.h"
#include "server/replay/ws_player.h"

namespace matgto::replay {

// A session's counters and misses, updated by its mode handler.
// Thread-safety: none; the session's mutex guards it.
struct SessionCounters {
  uint64_t replayed = 0;
  uint64_t passed_through = 0;
  uint64_t failed = 0;
  MissLog misses;
};

// What a mode handler may ask of the session that owns it: callbacks for
// work that outlives the call that starts it (a WebSocket session goes on
// after OnWebSocket returns). The handler asks for them under the session's
// lock; what they return keeps the session alive and takes that lock itself
// when the proxy calls it later, from a connection strand.
class ModeHost {
 public:
  virtual ~ModeHost() = default;
  // A sink that records a relayed WebSocket session into the handler's
  // recorder(); events after the session ended are dropped.
  virtual std::shared_ptr<core::WsSessionSink> RecordWebSocket(
      const core::HttpRequest& upgrade) = 0;
  // Reports a client message that differs from the replayed recording of
  // interaction `interaction` as a miss ("ws-mismatch").
  virtual ScriptPlayback::MismatchReporter ReportWsMismatch(
      std::string url, uint64_t interaction) = 0;
  // Reports a streamed request whose live body parted from the recorded
  // one (`recorded`) that interaction `interaction` replays, as a miss
  // ("stream-mismatch"); called with the live body as it then was.
  virtual std::function<void(const std::string& live)> ReportStreamMismatch(
      const core::HttpRequest& live, uint64_t interaction,
      std::shared_ptr<const std::string> recorded) = 0;
};

// Thread-safety: none. The owning session makes every call under its
// mutex; each one is in-memory work and never blocks.
class ModeHandler {
 public:
  virtual ~ModeHandler() = default;

  virtual v1::Mode mode() const = 0;

  // A proxied request (not a WebSocket upgrade), read in full.
  virtual core::Decision OnRequest(const core::HttpRequest& request,
                                   SessionCounters& counters) = 0;
  // A request still arriving (ExchangeHandler::OnPartialRequest). The
  // default waits for the whole request.
  virtual std::optional<core::Decision> OnPartialRequest(
      const core::HttpRequest& /*partial*/, ModeHost& /*host*/,
      SessionCounters& /*counters*/) {
    return std::nullopt;
  }
  // An exchange that OnRequest forwarded got its response, which the client
  // has not seen yet. Not called once the session has ended. `draft`: the
  // exchange already drafted by recorder() (Recorder::DraftHttp, before the
  // session's lock), or null (the handler drafts it if it records).
  virtual void OnForwarded(const core::HttpRequest& request,
                           const core::HttpResponse& response,
                           const core::ExchangeTiming& timing,
                           SessionCounters& counters,
                           Recorder::Draft* draft) = 0;
  // A WebSocket upgrade request (instead of OnRequest).
  virtual core::WsDecision OnWebSocket(const core::HttpRequest& upgrade,
                                       ModeHost& host,
                                       SessionCounters& counters) = 0;

  // The recorder, in a mode that records (RECORD; REPLAY with on_miss
  // RECORD); null otherwise.
  virtual Recorder* recorder() { return nullptr; }
  // The recording to save when the session stops (its interactions read
  // from the journal as it is written, see cassette/recording.h); nullopt
  // when there is nothing new to save; the error when the recording cannot
  // be read back (its journal is then left in place).
  virtual absl::StatusOr<std::optional<cassette::Recording>> ToSave() const {
    return std::nullopt;
  }
  // ToSave, whole in memory.
  absl::StatusOr<std::optional<v1::Cassette>> Recording() const;
  // Interactions this session recorded (SessionInfo.recorded).
  virtual uint64_t recorded() const { return 0; }
  // Recordings replay answers from (SessionInfo.interactions).
  virtual uint64_t replayable() const { return 0; }
  // Interaction indexes replay never used, in order.
  virtual std::vector<uint64_t> Unused() const { return {}; }
};

}  // namespace matgto::replay
