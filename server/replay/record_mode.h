// RECORD: every request is forwarded to its upstream and the exchange
// recorded (redacted) when it comes back; WebSocket sessions are relayed and
// recorded message by message. Stopping saves the recording.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>

#include "server/replay/mode.h"
#include "server/replay/recorder.h"

namespace matgto::replay {

// Thread-safety: as ModeHandler.
class RecordMode final : public ModeHandler {
 public:
  // `ticket` goes into every Forward and WsRelay; `recorder` starts from
  // the empty cassette being recorded.
  RecordMode(uint64_t ticket, Recorder recorder);

  v1::Mode mode() const override { return v1::RECORD; }
  core::Decision OnRequest(const core::HttpRequest& request,
                           SessionCounters& counters) override;
  // Forwarded at once, the body streamed upstream as it arrives.
  std::optional<core::Decision> OnPartialRequest(
      const core::HttpRequest& partial, ModeHost& /*host*/,
      SessionCounters& counters) override {
    return OnRequest(partial, counters);
  }
  void OnForwarded(const core::HttpRequest& request,
                   const core::HttpResponse& response,
                   const core::ExchangeTiming& timing,
                   SessionCounters& counters, Recorder::Draft* draft) override;
  core::WsDecision OnWebSocket(const core::HttpRequest& upgrade, ModeHost& host,
                               SessionCounters& counters) override;

  Recorder* recorder() override { return &recorder_; }
  absl::StatusOr<std::optional<cassette::Recording>> ToSave() const override;
  uint64_t recorded() const override { return recorder_.size(); }

 private:
  const uint64_t ticket_;
  Recorder recorder_;
  // The journal's (null without one): large bodies go to files beside it.
  // Only recording sessions spool; a miss recorded during replay is kept
  // in memory, since it also answers the session's later requests.
  const std::shared_ptr<core::BodySpooler> spooler_;
};

}  // namespace matgto::replay
