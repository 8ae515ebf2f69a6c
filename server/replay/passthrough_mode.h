// PASSTHROUGH: every request and WebSocket session is forwarded to its
// upstream and nothing is recorded; the session only counts them.
#pragma once

#include <cstdint>

#include "server/replay/mode.h"

namespace matgto::replay {

// Thread-safety: as ModeHandler (stateless besides the ticket).
class PassthroughMode final : public ModeHandler {
 public:
  // `ticket` goes into every Forward and WsRelay.
  explicit PassthroughMode(uint64_t ticket) : ticket_(ticket) {}

  v1::Mode mode() const override { return v1::PASSTHROUGH; }
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

 private:
  const uint64_t ticket_;
};

}  // namespace matgto::replay
