#include "server/replay/passthrough_mode.h"

namespace matgto::replay {

core::Decision PassthroughMode::OnRequest(const core::HttpRequest& /*request*/,
                                          SessionCounters& /*counters*/) {
  return core::Forward{.ticket = ticket_, .store = false};
}

void PassthroughMode::OnForwarded(const core::HttpRequest& /*request*/,
                                  const core::HttpResponse& /*response*/,
                                  const core::ExchangeTiming& /*timing*/,
                                  SessionCounters& counters,
                                  Recorder::Draft* /*draft*/) {
  ++counters.passed_through;
}

core::WsDecision PassthroughMode::OnWebSocket(
    const core::HttpRequest& /*upgrade*/, ModeHost& /*host*/,
    SessionCounters& counters) {
  ++counters.passed_through;
  return core::WsRelay{ticket_, nullptr};
}

}  // namespace matgto::replay
