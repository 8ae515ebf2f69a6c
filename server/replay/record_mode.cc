#include "server/replay/record_mode.h"

#include <utility>

namespace matgto::replay {

RecordMode::RecordMode(uint64_t ticket, Recorder recorder)
    : ticket_(ticket), recorder_(std::move(recorder)) {}

core::Decision RecordMode::OnRequest(const core::HttpRequest& /*request*/,
                                     SessionCounters& /*counters*/) {
  return core::Forward{ticket_};
}

void RecordMode::OnForwarded(const core::HttpRequest& request,
                             const core::HttpResponse& response,
                             const core::ExchangeTiming& timing,
                             SessionCounters& /*counters*/) {
  recorder_.AddHttp(request, response, timing);
}

core::WsDecision RecordMode::OnWebSocket(const core::HttpRequest& upgrade,
                                         ModeHost& host,
                                         SessionCounters& /*counters*/) {
  return core::WsRelay{ticket_, host.RecordWebSocket(upgrade)};
}

std::optional<v1::Cassette> RecordMode::Recording() const {
  return recorder_.Snapshot();
}

}  // namespace matgto::replay
