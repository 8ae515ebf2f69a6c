#include "server/replay/record_mode.h"

#include <utility>

namespace matgto::replay {

RecordMode::RecordMode(uint64_t ticket, Recorder recorder)
    : ticket_(ticket),
      recorder_(std::move(recorder)),
      spooler_(recorder_.journal() != nullptr
                   ? recorder_.journal()->body_spooler()
                   : nullptr) {}

core::Decision RecordMode::OnRequest(const core::HttpRequest& /*request*/,
                                     SessionCounters& /*counters*/) {
  return core::Forward{.ticket = ticket_, .spooler = spooler_};
}

void RecordMode::OnForwarded(const core::HttpRequest& request,
                             const core::HttpResponse& response,
                             const core::ExchangeTiming& timing,
                             SessionCounters& /*counters*/,
                             Recorder::Draft* draft) {
  if (draft != nullptr) {
    recorder_.Commit(*draft);
  } else {
    recorder_.AddHttp(request, response, timing);
  }
}

core::WsDecision RecordMode::OnWebSocket(const core::HttpRequest& upgrade,
                                         ModeHost& host,
                                         SessionCounters& /*counters*/) {
  return core::WsRelay{ticket_, host.RecordWebSocket(upgrade)};
}

absl::StatusOr<std::optional<cassette::Recording>> RecordMode::ToSave() const {
  absl::StatusOr<cassette::Recording> recording = recorder_.ToSave();
  if (!recording.ok()) return recording.status();
  return std::optional<cassette::Recording>(*std::move(recording));
}

}  // namespace matgto::replay
